//! Time zones by IANA name (`Europe/Berlin`), for times a person reads: the user's zone in an
//! e-mail, the viewer's on a page.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A zone name that is not in the time zone database.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone {0:?}; use an IANA name such as Europe/Berlin or America/New_York")]
pub struct UnknownZone(pub String);

/// Checks an IANA zone name; returns it as the database spells it.
///
/// # Errors
/// [`UnknownZone`] when the name is not in the database.
pub fn check(name: &str) -> Result<String, UnknownZone> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(UnknownZone(name.to_owned()));
    }
    let tz = TimeZone::get(name).map_err(|_| UnknownZone(name.to_owned()))?;
    Ok(tz.iana_name().unwrap_or(name).to_owned())
}

/// `unix` as `2026-12-06 14:32:30 CET` in `zone` (UTC when `zone` is `None` or unknown).
pub fn format(unix: i64, zone: Option<&str>) -> String {
    let tz = zone
        .and_then(|z| TimeZone::get(z).ok())
        .unwrap_or(TimeZone::UTC);
    match Timestamp::from_second(unix) {
        Ok(ts) => ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => format!("@{unix}"),
    }
}

/// `unix` as `14:32:30` in `zone` (UTC when `zone` is `None` or unknown).
pub fn format_clock(unix: i64, zone: Option<&str>) -> String {
    let tz = zone
        .and_then(|z| TimeZone::get(z).ok())
        .unwrap_or(TimeZone::UTC);
    match Timestamp::from_second(unix) {
        Ok(ts) => ts.to_zoned(tz).strftime("%H:%M:%S").to_string(),
        Err(_) => format!("@{unix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_against_the_database() {
        assert_eq!(
            check(" Europe/Berlin ").ok().as_deref(),
            Some("Europe/Berlin")
        );
        assert!(check("Mars/Olympus").is_err());
        assert!(check("").is_err());
    }

    #[test]
    fn times_are_written_in_the_zone_with_its_abbreviation() {
        // 2026-12-06 13:32:30 UTC is 14:32:30 in Berlin (CET, UTC+1) and 08:32:30 in New York.
        let t = 1_796_563_950;
        assert_eq!(format(t, None), "2026-12-06 13:32:30 UTC");
        assert_eq!(format(t, Some("Europe/Berlin")), "2026-12-06 14:32:30 CET");
        assert_eq!(format_clock(t, Some("America/New_York")), "08:32:30");
        assert_eq!(format(t, Some("Nowhere/Else")), "2026-12-06 13:32:30 UTC");
    }
}
