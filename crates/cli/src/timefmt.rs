//! Times on the command line: `--at` parsing and display in the system's time zone (`--utc`:
//! UTC).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses `--at`: Unix seconds, or an RFC 3339 timestamp such as `2026-12-01T09:30:00+01:00`.
///
/// # Errors
/// A message saying which forms are accepted.
pub(crate) fn parse_at(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| anyhow::anyhow!("--at {text} is too large for a Unix time"));
    }
    let dt = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        anyhow::anyhow!(
            "--at takes Unix seconds (1764320400) or an RFC 3339 time (2026-11-28T09:00:00Z or \
             2026-11-28T10:00:00+01:00)"
        )
    })?;
    u64::try_from(dt.unix_timestamp()).map_err(|_| anyhow::anyhow!("--at is before 1970"))
}

/// `--at` if given, else now.
///
/// # Errors
/// A bad `--at`, as an input error.
pub(crate) fn resolve_at(
    at: Option<&str>,
    clock: &dyn crate::clock::Clock,
) -> Result<u64, crate::error::CliError> {
    match at {
        Some(text) => parse_at(text).map_err(crate::error::CliError::input),
        None => Ok(clock.now_unix_secs()),
    }
}

thread_local! {
    /// `--utc` for the command running on this thread (set by [`crate::run`] for its duration,
    /// so tests running commands side by side do not see each other's choice).
    static FORCE_UTC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with times shown in UTC (`--utc`) or in the system zone.
pub(crate) fn with_utc<T>(utc: bool, f: impl FnOnce() -> T) -> T {
    let before = FORCE_UTC.with(|c| c.replace(utc));
    let out = f();
    FORCE_UTC.with(|c| c.set(before));
    out
}

/// How times are shown: in the system's time zone (`TZ`, else `/etc/localtime`; UTC when
/// neither names one), or in UTC with `--utc`.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    tz: TimeZone,
}

impl Zone {
    pub(crate) fn local() -> Self {
        let tz = if FORCE_UTC.with(std::cell::Cell::get) {
            TimeZone::UTC
        } else {
            TimeZone::try_system().unwrap_or(TimeZone::UTC)
        };
        Self { tz }
    }

    /// The zone as "Europe/Berlin (UTC+01:00)" (the offset in force at `at_unix_secs`), or
    /// "UTC".
    pub(crate) fn label(&self, at_unix_secs: u64) -> String {
        let name = self.tz.iana_name().unwrap_or("local time");
        if name == "UTC" || name == "Etc/UTC" {
            return "UTC".to_owned();
        }
        let at = i64::try_from(at_unix_secs)
            .ok()
            .and_then(|t| Timestamp::from_second(t).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let offset = self.tz.to_offset(at);
        let secs = offset.seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let (h, m) = (secs.unsigned_abs() / 3600, secs.unsigned_abs() % 3600 / 60);
        format!("{name} (UTC{sign}{h:02}:{m:02})")
    }

    fn at(&self, unix_secs: u64) -> Option<jiff::Zoned> {
        let secs = i64::try_from(unix_secs).ok()?;
        Some(Timestamp::from_second(secs).ok()?.to_zoned(self.tz.clone()))
    }

    fn format(&self, unix_secs: u64, fmt: &str) -> String {
        self.at(unix_secs)
            .map(|z| z.strftime(fmt).to_string())
            .unwrap_or_else(|| format!("@{unix_secs}"))
    }

    /// `2026-11-28 14:02:30`, or the raw number for times the calendar cannot show.
    pub(crate) fn datetime(&self, unix_secs: u64) -> String {
        self.format(unix_secs, "%Y-%m-%d %H:%M:%S")
    }

    /// `14:02:30`.
    pub(crate) fn time(&self, unix_secs: u64) -> String {
        self.format(unix_secs, "%H:%M:%S")
    }

    /// True when both times fall on the same local calendar day.
    pub(crate) fn same_day(&self, a: u64, b: u64) -> bool {
        match (self.at(a), self.at(b)) {
            (Some(x), Some(y)) => x.date() == y.date(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_forms() {
        assert_eq!(parse_at("59").unwrap(), 59);
        assert_eq!(parse_at("1970-01-01T00:00:59Z").unwrap(), 59);
        assert_eq!(parse_at("2009-02-13T23:31:30Z").unwrap(), 1_234_567_890);
        assert_eq!(
            parse_at("2009-02-14T00:31:30+01:00").unwrap(),
            1_234_567_890
        );
        assert!(parse_at("1969-12-31T23:59:59Z").is_err());
        assert!(parse_at("yesterday").is_err());
        assert!(parse_at("99999999999999999999999").is_err());
    }
}
