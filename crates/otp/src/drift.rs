//! Where a code read from a token's display falls in time: the token clock's drift, measured at
//! burn time and at delivery.

use subtle::ConstantTimeEq;

use crate::totp::Totp;

/// The result of a drift search; "not found" and "ambiguous" are honest answers, not errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Exactly one step matches.
    Found {
        /// Token step minus host step: positive when the token's clock runs ahead.
        offset_steps: i64,
        /// `offset_steps * period`, the drift in whole steps expressed in seconds.
        drift_secs: i64,
        /// The matching step.
        step: u64,
    },
    /// No step in the window produces the code (or the pair of consecutive codes).
    NotFound,
    /// Several steps match; a second consecutive code removes the ambiguity.
    Ambiguous {
        /// Every matching offset, nearest first.
        offsets: Vec<i64>,
    },
}

/// Searches `window_steps` steps either side of the step current at `unix_secs` for `code`,
/// and when `next_code` is given, requires it at the following step. Every candidate is
/// compared in constant time; the whole window is searched, so ambiguity is always seen.
///
/// Codes must already be digits only, of the generator's length; other text matches nothing.
pub fn search(
    totp: &Totp,
    unix_secs: u64,
    code: &str,
    next_code: Option<&str>,
    window_steps: u64,
) -> Drift {
    let Ok(now) = totp.step_at(unix_secs) else {
        return Drift::NotFound;
    };
    let (Some(first), second) = (parse(totp, code), next_code.map(|c| parse(totp, c))) else {
        return Drift::NotFound;
    };
    let second = match second {
        Some(Some(v)) => Some(v),
        Some(None) => return Drift::NotFound,
        None => None,
    };
    let lo = now.saturating_sub(window_steps);
    let hi = now.saturating_add(window_steps);
    let hotp = totp.hotp();
    let mut offsets = Vec::new();
    let mut previous: Option<u32> = None;
    // Walk one extra step so a pair ending just past the window is still seen.
    let mut step = lo;
    loop {
        let value = hotp.value(step);
        if let (Some(prev), Some(second)) = (previous, second) {
            if bool::from(prev.ct_eq(&first) & value.ct_eq(&second)) {
                offsets.push(signed_offset(step - 1, now));
            }
        } else if second.is_none() && bool::from(value.ct_eq(&first)) {
            offsets.push(signed_offset(step, now));
        }
        previous = Some(value);
        let limit = if second.is_some() {
            hi.saturating_add(1)
        } else {
            hi
        };
        if step >= limit {
            break;
        }
        step += 1;
    }
    offsets.sort_by_key(|o| (o.unsigned_abs(), *o));
    match offsets.as_slice() {
        [] => Drift::NotFound,
        [offset] => {
            let period = i64::try_from(totp.params().period.secs()).unwrap_or(i64::MAX);
            Drift::Found {
                offset_steps: *offset,
                drift_secs: offset.saturating_mul(period),
                step: now.saturating_add_signed(*offset),
            }
        }
        _ => Drift::Ambiguous { offsets },
    }
}

fn signed_offset(step: u64, now: u64) -> i64 {
    if step >= now {
        i64::try_from(step - now).unwrap_or(i64::MAX)
    } else {
        i64::try_from(now - step).map_or(i64::MIN, |d| -d)
    }
}

fn parse(totp: &Totp, code: &str) -> Option<u32> {
    let digits = usize::from(totp.hotp().digits().get());
    (code.len() == digits && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse().ok())
        .flatten()
}

/// Steps in ±1 day for a period: the default search window.
pub fn one_day_steps(totp: &Totp) -> u64 {
    86_400 / totp.params().period.secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Secret, TotpParams};

    fn totp() -> Totp {
        Totp::new(
            &Secret::from_bytes(b"12345678901234567890".to_vec()),
            TotpParams::default(),
        )
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn finds_a_token_running_ahead_and_behind() {
        let t = totp();
        for offset in [-2880i64, -7, -1, 0, 1, 3, 2880] {
            let c1 = t.at_offset(NOW, offset).unwrap().code;
            let c2 = t.at_offset(NOW, offset + 1).unwrap().code;
            let found = search(&t, NOW, c1.expose(), Some(c2.expose()), 2880);
            assert_eq!(
                found,
                Drift::Found {
                    offset_steps: offset,
                    drift_secs: offset * 30,
                    step: (t.step_at(NOW).unwrap() as i64 + offset) as u64
                }
            );
        }
    }

    #[test]
    fn outside_the_window_is_not_found() {
        let t = totp();
        let c1 = t.at_offset(NOW, 100).unwrap().code;
        assert_eq!(search(&t, NOW, c1.expose(), None, 99), Drift::NotFound);
        assert_eq!(search(&t, NOW, "12345", None, 99), Drift::NotFound);
        assert_eq!(search(&t, NOW, "abcdef", None, 99), Drift::NotFound);
    }

    #[test]
    fn one_code_over_a_day_is_usually_ambiguous_and_two_resolve_it() {
        // 5,761 candidates of 10^6 values: a repeat is likely for some code; find one.
        let t = totp();
        let day = one_day_steps(&t);
        let ambiguous = (-50i64..50).find_map(|o| {
            let c = t.at_offset(NOW, o).unwrap().code;
            match search(&t, NOW, c.expose(), None, day) {
                Drift::Ambiguous { offsets } => Some((o, offsets)),
                _ => None,
            }
        });
        if let Some((o, offsets)) = ambiguous {
            assert!(offsets.contains(&o));
            let c1 = t.at_offset(NOW, o).unwrap().code;
            let c2 = t.at_offset(NOW, o + 1).unwrap().code;
            assert!(matches!(
                search(&t, NOW, c1.expose(), Some(c2.expose()), day),
                Drift::Found { offset_steps, .. } if offset_steps == o
            ));
        } else {
            // Every one of the 100 codes was unique over the day: check that claim directly.
            for o in -50i64..50 {
                let c = t.at_offset(NOW, o).unwrap().code;
                let matches = (0..=2 * day)
                    .filter(|i| {
                        t.hotp().code(t.step_at(NOW).unwrap() - day + i).expose() == c.expose()
                    })
                    .count();
                assert_eq!(matches, 1);
            }
        }
    }

    #[test]
    fn window_at_time_zero_does_not_underflow() {
        let t = totp();
        let c = t.at(0).unwrap().code;
        assert!(matches!(
            search(&t, 0, c.expose(), None, 2880),
            Drift::Found {
                offset_steps: 0,
                ..
            } | Drift::Ambiguous { .. }
        ));
        assert_eq!(
            search(&t, u64::MAX, "000000", Some("x"), 10),
            Drift::NotFound
        );
    }
}
