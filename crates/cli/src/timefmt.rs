//! Times on the command line: `--at` parsing and local-time display.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

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

/// How times are shown: in the machine's local zone (or UTC when it cannot be determined).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Zone {
    offset: UtcOffset,
}

impl Zone {
    pub(crate) fn local() -> Self {
        Self {
            offset: UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC),
        }
    }

    /// The zone as "UTC+01:00".
    pub(crate) fn label(&self) -> String {
        let (h, m, _) = self.offset.as_hms();
        let sign = if self.offset.is_negative() { '-' } else { '+' };
        format!("UTC{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
    }

    fn at(&self, unix_secs: u64) -> Option<OffsetDateTime> {
        let secs = i64::try_from(unix_secs).ok()?;
        OffsetDateTime::from_unix_timestamp(secs)
            .ok()?
            .checked_to_offset(self.offset)
    }

    /// `2026-11-28 14:02:30`, or the raw number for times the calendar cannot show.
    pub(crate) fn datetime(&self, unix_secs: u64) -> String {
        let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        self.at(unix_secs)
            .and_then(|dt| dt.format(&fmt).ok())
            .unwrap_or_else(|| format!("@{unix_secs}"))
    }

    /// `14:02:30`.
    pub(crate) fn time(&self, unix_secs: u64) -> String {
        let fmt = format_description!("[hour]:[minute]:[second]");
        self.at(unix_secs)
            .and_then(|dt| dt.format(&fmt).ok())
            .unwrap_or_else(|| format!("@{unix_secs}"))
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
