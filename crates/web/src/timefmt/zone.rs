//! The viewer's time zone and a time as a page shows it: local, with the zone's abbreviation,
//! and UTC on hover (`<time title>`), so an operator reads the clock the caller reads while the
//! audit stays in UTC.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::Problem;

/// A time zone from the time zone database, with the name the viewer chose.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    tz: TimeZone,
    name: String,
}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

impl Zone {
    pub(crate) fn utc() -> Self {
        Self {
            tz: TimeZone::UTC,
            name: "UTC".to_owned(),
        }
    }

    /// The zone of an IANA name (`Europe/Berlin`), or `None` when the database lacks it.
    pub(crate) fn named(name: &str) -> Option<Self> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return None;
        }
        let tz = TimeZone::get(name).ok()?;
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Some(Self { tz, name })
    }

    /// The first of `choices` that names a known zone, else `fallback`.
    pub(crate) fn first_of<'a>(
        choices: impl IntoIterator<Item = Option<&'a str>>,
        fallback: &Self,
    ) -> Self {
        choices
            .into_iter()
            .flatten()
            .find_map(Self::named)
            .unwrap_or_else(|| fallback.clone())
    }

    /// The IANA name (`Europe/Berlin`, `UTC`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn strftime(&self, unix: i64, tz: &TimeZone, fmt: &str) -> String {
        match Timestamp::from_second(unix) {
            Ok(ts) => ts.to_zoned(tz.clone()).strftime(fmt).to_string(),
            Err(_) => format!("{unix} s after 1970 (UTC)"),
        }
    }

    /// `unix` as the page shows it.
    pub(crate) fn when(&self, unix: i64) -> When {
        When {
            iso: self.strftime(unix, &TimeZone::UTC, "%Y-%m-%dT%H:%M:%SZ"),
            utc: self.strftime(unix, &TimeZone::UTC, "%Y-%m-%d %H:%M:%S UTC"),
            local: self.strftime(unix, &self.tz, "%Y-%m-%d %H:%M:%S %Z"),
        }
    }

    /// An optional time; nothing when absent.
    pub(crate) fn when_opt(&self, unix: Option<i64>) -> When {
        unix.map(|t| self.when(t)).unwrap_or_default()
    }

    /// The clock time alone, `14:32:30`, in this zone.
    pub(crate) fn clock(&self, unix: i64) -> String {
        self.strftime(unix, &self.tz, "%H:%M:%S")
    }

    /// The zone's abbreviation at `unix` (`CET`, `CEST`, `UTC`).
    pub(crate) fn abbreviation(&self, unix: i64) -> String {
        self.strftime(unix, &self.tz, "%Z")
    }

    /// The instant that a wall-clock time read as UTC (`utc_reading`, from the date inputs)
    /// names in this zone.
    fn local_reading(&self, utc_reading: i64) -> Option<i64> {
        let civil = Timestamp::from_second(utc_reading)
            .ok()?
            .to_zoned(TimeZone::UTC)
            .datetime();
        Some(
            civil
                .to_zoned(self.tz.clone())
                .ok()?
                .timestamp()
                .as_second(),
        )
    }

    /// `YYYY-MM-DD` as midnight in this zone.
    pub(crate) fn parse_date(&self, text: &str) -> Result<i64, Problem> {
        let utc = super::parse_date(text)?;
        self.local_reading(utc)
            .ok_or_else(|| Problem::invalid(format!("{text:?} is not a date like 2026-12-24")))
    }

    /// `YYYY-MM-DDTHH:MM[:SS]` (a date-time input) in this zone.
    pub(crate) fn parse_datetime(&self, text: &str) -> Result<i64, Problem> {
        let utc = super::parse_datetime(text)?;
        self.local_reading(utc).ok_or_else(|| {
            Problem::invalid(format!("{text:?} is not a time like 2026-12-24T09:30"))
        })
    }
}

/// A time on a page: `<time datetime title>local</time>`, rendered with `|safe` (every part is
/// digits, letters and `-:+ /` written here, never input).
#[derive(Clone, Debug, Default)]
pub(crate) struct When {
    iso: String,
    utc: String,
    local: String,
}

impl When {
    /// Plain text for places that cannot hold markup: `2026-12-06 14:32:30 CET (13:32:30
    /// UTC)`, or the UTC time alone when the zone is UTC.
    pub(crate) fn text(&self) -> String {
        if self.local == self.utc {
            self.local.clone()
        } else {
            let utc_clock = self.utc.split(' ').nth(1).unwrap_or_default();
            format!("{} ({utc_clock} UTC)", self.local)
        }
    }
}

/// Keeps markup characters out (none are expected: see [`When`]).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '<' | '>' | '&' | '"' | '\''))
        .collect()
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.local.is_empty() {
            return Ok(());
        }
        write!(
            f,
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            clean(&self.iso),
            clean(&self.utc),
            clean(&self.local)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_local_with_utc_on_hover() {
        // 2026-12-06 13:32:30 UTC is 14:32:30 in Berlin (CET).
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let w = berlin.when(1_796_563_950);
        assert_eq!(
            w.to_string(),
            "<time datetime=\"2026-12-06T13:32:30Z\" title=\"2026-12-06 13:32:30 UTC\">\
             2026-12-06 14:32:30 CET</time>"
        );
        assert_eq!(w.text(), "2026-12-06 14:32:30 CET (13:32:30 UTC)");
        assert_eq!(
            Zone::utc().when(1_796_563_950).text(),
            "2026-12-06 13:32:30 UTC"
        );
        assert_eq!(berlin.clock(1_796_563_950), "14:32:30");
        assert_eq!(Zone::utc().when_opt(None).to_string(), "");
    }

    #[test]
    fn unknown_zones_fall_back() {
        assert!(Zone::named("Mars/Olympus").is_none());
        let z = Zone::first_of(
            [None, Some("Mars/Olympus"), Some("Europe/Paris")],
            &Zone::utc(),
        );
        assert_eq!(z.name(), "Europe/Paris");
        assert_eq!(Zone::first_of([None], &Zone::utc()).name(), "UTC");
    }

    #[test]
    fn inputs_are_read_in_the_zone() {
        let berlin = Zone::named("Europe/Berlin").unwrap();
        // 14:32:30 in Berlin is 13:32:30 UTC; midnight in Berlin is 23:00 UTC the day before.
        assert_eq!(
            berlin.parse_datetime("2026-12-06T14:32:30").ok(),
            Some(1_796_563_950)
        );
        assert_eq!(berlin.parse_date("2026-12-06").ok(), Some(1_796_511_600));
        assert!(berlin.parse_date("2026-13-01").is_err());
    }
}
