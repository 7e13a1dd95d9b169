//! Times as the pages and the API write and read them: Unix seconds to
//! `YYYY-MM-DD HH:MM:SS UTC` (the CSV, the API), to the viewer's local time with UTC on hover
//! ([`Zone::when`], every page), and the HTML date and date-time inputs back to Unix seconds
//! (in the viewer's zone). Zones are IANA names from the time zone database (jiff).

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::error::Problem;

mod zone;
pub(crate) use zone::{When, Zone};

const SHOWN: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Formats a Unix time as `YYYY-MM-DD HH:MM:SS UTC` (times outside the calendar as seconds).
pub(crate) fn fmt_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(SHOWN).ok())
        .unwrap_or_else(|| format!("{unix} s after 1970 (UTC)"))
}

/// A calendar date from 1970 to 9999, or `None`.
fn date(text: &str) -> Option<Date> {
    Date::parse(text.trim(), DATE)
        .ok()
        .filter(|d| (1970..=9999).contains(&d.year()))
}

/// Parses `YYYY-MM-DD` (an HTML date input) as midnight UTC.
pub(crate) fn parse_date(text: &str) -> Result<i64, Problem> {
    date(text)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .ok_or_else(|| Problem::invalid(format!("{text:?} is not a date like 2026-12-24")))
}

/// Parses `YYYY-MM-DDTHH:MM[:SS]` (an HTML date-time input) as UTC.
pub(crate) fn parse_datetime(text: &str) -> Result<i64, Problem> {
    let bad = || {
        Problem::invalid(format!(
            "{text:?} is not a time like 2026-12-24T09:30 (UTC)"
        ))
    };
    let (day, clock) = text.trim().split_once('T').ok_or_else(bad)?;
    let day = date(day).ok_or_else(bad)?;
    let mut parts = clock.split(':');
    let mut next = |required: bool| -> Result<u8, Problem> {
        match parts.next() {
            Some(p) if (1..=2).contains(&p.len()) => p.parse().map_err(|_| bad()),
            None if !required => Ok(0),
            _ => Err(bad()),
        }
    };
    let (h, m, s) = (next(true)?, next(true)?, next(false)?);
    if parts.next().is_some() {
        return Err(bad());
    }
    let clock = Time::from_hms(h, m, s).map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(day, clock)
        .assume_utc()
        .unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for (text, unix) in [
            ("1970-01-01", 0),
            ("2009-02-13", 1_234_483_200),
            ("2026-11-28", 1_795_824_000),
            ("2000-02-29", 951_782_400),
        ] {
            assert_eq!(parse_date(text).ok(), Some(unix), "{text}");
            assert!(fmt_time(unix).starts_with(text), "{text}");
        }
        for bad in ["2026-13-01", "tomorrow", "2026-02-30", "1969-12-31", ""] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        assert_eq!(fmt_time(1_234_567_890), "2009-02-13 23:31:30 UTC");
    }

    #[test]
    fn date_times_parse_with_and_without_seconds() {
        assert_eq!(parse_datetime("2009-02-13T23:31").ok(), Some(1_234_567_860));
        assert_eq!(
            parse_datetime("2009-02-13T23:31:30").ok(),
            Some(1_234_567_890)
        );
        for bad in [
            "2009-02-13",
            "2009-02-13T24:00",
            "2009-02-13T23:60",
            "2009-02-13T23:31:30:00",
            "T23:31",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }
}
