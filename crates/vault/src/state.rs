//! The record lifecycle. `State::transition` is the one table that decides legal moves:
//! captured → burned → shipped → delivered → purged, with cancelled and lost as side exits.

use std::fmt;
use std::str::FromStr;

/// Where a record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Seed captured, token not yet programmed.
    Captured,
    /// Seed burned onto the hardware token.
    Burned,
    /// Token in the post.
    Shipped,
    /// Token arrived and verified; reveals stop.
    Delivered,
    /// Seed destroyed (data key deleted); only the fingerprint remains.
    Purged,
    /// Token never sent; seed destroyed.
    Cancelled,
    /// Token lost in transit; seed destroyed, user must re-enrol.
    Lost,
}

/// Every state, in lifecycle order.
pub const ALL_STATES: [State; 7] = [
    State::Captured,
    State::Burned,
    State::Shipped,
    State::Delivered,
    State::Purged,
    State::Cancelled,
    State::Lost,
];

/// A move the transition table forbids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot move a record from {from} to {to}; from {from} it can go to: {allowed}")]
pub struct TransitionError {
    /// Current state.
    pub from: State,
    /// Requested state.
    pub to: State,
    /// The legal targets, for the message.
    pub allowed: String,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Captured => "captured",
            State::Burned => "burned",
            State::Shipped => "shipped",
            State::Delivered => "delivered",
            State::Purged => "purged",
            State::Cancelled => "cancelled",
            State::Lost => "lost",
        }
    }

    /// Legal next states.
    pub fn next_states(self) -> &'static [State] {
        use State::*;
        match self {
            Captured => &[Burned, Cancelled],
            Burned => &[Shipped, Cancelled],
            Shipped => &[Delivered, Lost],
            Delivered => &[Purged],
            Purged | Cancelled | Lost => &[],
        }
    }

    /// Applies the transition table.
    ///
    /// # Errors
    /// [`TransitionError`] naming the current state when `to` is not a legal next state.
    pub fn transition(self, to: State) -> Result<State, TransitionError> {
        if self.next_states().contains(&to) {
            Ok(to)
        } else {
            let allowed = self
                .next_states()
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>();
            Err(TransitionError {
                from: self,
                to,
                allowed: if allowed.is_empty() {
                    "nowhere (final state)".to_owned()
                } else {
                    allowed.join(", ")
                },
            })
        }
    }

    /// Codes may be revealed only before delivery.
    pub fn is_revealable(self) -> bool {
        matches!(self, State::Captured | State::Burned | State::Shipped)
    }

    /// At most one record per user is active.
    pub fn is_active(self) -> bool {
        self.is_revealable()
    }

    /// Whether the seed still exists in this state.
    pub fn has_seed(self) -> bool {
        matches!(
            self,
            State::Captured | State::Burned | State::Shipped | State::Delivered
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATES
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown state {s:?}; use one of captured, burned, shipped, delivered, purged, cancelled, lost"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    /// The whole table: every (from, to) pair and whether it is legal.
    const LEGAL: &[(State, State)] = &[
        (Captured, Burned),
        (Captured, Cancelled),
        (Burned, Shipped),
        (Burned, Cancelled),
        (Shipped, Delivered),
        (Shipped, Lost),
        (Delivered, Purged),
    ];

    #[test]
    fn every_pair_matches_the_table() {
        for from in ALL_STATES {
            for to in ALL_STATES {
                let legal = LEGAL.contains(&(from, to));
                let got = from.transition(to);
                assert_eq!(got.is_ok(), legal, "{from} -> {to}");
                if let Err(e) = got {
                    assert!(e.to_string().contains(&format!("from {from} to {to}")));
                }
            }
        }
    }

    #[test]
    fn reveal_only_before_delivery() {
        let revealable: Vec<_> = ALL_STATES.iter().filter(|s| s.is_revealable()).collect();
        assert_eq!(revealable, [&Captured, &Burned, &Shipped]);
    }

    #[test]
    fn names_round_trip() {
        for s in ALL_STATES {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
        assert!("Captured".parse::<State>().is_err());
    }
}
