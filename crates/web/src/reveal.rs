//! The reveal use case as the web sees it, shared by the reveal page and `POST
//! /api/v1/records/{id}/reveal`: an [`Ask`] parsed once from either, one call ([`run`]) that
//! checks the caller's verification and reveals through the vault (audit first), and the
//! [`Shown`] codes both render.

use axum::http::StatusCode;
use tokendesk_vault::{
    ApprovalId, Permission, Purpose, RevealRequest, Ticket, VaultError, Verification,
};
use zeroize::{Zeroize, Zeroizing};

use crate::AppState;
use crate::auth::Auth;
use crate::error::Problem;
use crate::i18n::{Msg, Tr};
use crate::timefmt::Zone;

/// How far from its step Entra ID is assumed to accept a code (workflow.md: default ±2 min).
pub(crate) const ENTRA_WINDOW_SECS: u64 = 120;

/// A reveal as the operator asks for it, after parsing.
pub(crate) struct Ask {
    pub ticket: Ticket,
    pub method: Verification,
    /// What the caller said, for [`Verification::Passphrase`].
    pub passphrase: Zeroizing<String>,
    /// The four-eyes approval named, if any.
    pub approval: Option<ApprovalId>,
    pub purpose: Purpose,
    /// When the (first) code is wanted.
    pub at: i64,
}

impl Ask {
    /// Parses what the page form and the API body share. A blank `approval` names none.
    pub fn parse(
        ticket: &str,
        method: &str,
        passphrase: &str,
        approval: &str,
        purpose: Purpose,
        at: i64,
    ) -> Result<Self, Problem> {
        let approval = Some(approval.trim())
            .filter(|a| !a.is_empty())
            .map(|a| ApprovalId(a.to_owned()));
        let method: Verification = method.parse()?;
        if method == Verification::SecondApprover && approval.is_none() {
            return Err(Problem::invalid("choose the approval to use")
                .say(Msg::new("reveal-choose-approval")));
        }
        if method == Verification::Passphrase && passphrase.is_empty() {
            return Err(Problem::invalid("type the passphrase the caller said")
                .say(Msg::new("reveal-type-passphrase")));
        }
        Ok(Self {
            ticket: Ticket::new(ticket)?,
            method,
            passphrase: Zeroizing::new(passphrase.to_owned()),
            approval,
            purpose,
            at,
        })
    }
}

/// One code shaped for a page or a JSON answer.
pub(crate) struct CodeRow {
    /// "Now", "Next" or "For e-mail", in the viewer's language.
    pub label: String,
    pub code: String,
    pub valid_from: u64,
    pub valid_until: u64,
    /// `14:32:00 – 14:32:30 CET` in the viewer's zone.
    pub window: String,
    /// The same window in UTC (shown on hover).
    pub window_utc: String,
    /// `valid until 14:32:30`, in the viewer's zone.
    pub until: String,
    pub left: String,
}

impl CodeRow {
    /// Where the code splits into two groups for reading aloud (`591 757`, `1234 5678`).
    fn split(&self) -> usize {
        let n = self.code.len() / 2;
        if self.code.is_char_boundary(n) { n } else { 0 }
    }

    /// The first group of digits.
    pub fn head(&self) -> &str {
        self.code.get(..self.split()).unwrap_or_default()
    }

    /// The second group of digits.
    pub fn tail(&self) -> &str {
        self.code.get(self.split()..).unwrap_or_default()
    }
}

impl Drop for CodeRow {
    fn drop(&mut self) {
        self.code.zeroize();
    }
}

/// What a reveal shows: the page and the API render this.
pub(crate) struct Shown {
    /// The user whose codes these are.
    pub upn: String,
    pub purpose: Purpose,
    pub heading: String,
    pub rows: Vec<CodeRow>,
    pub note: String,
}

/// Checks the caller's verification (a passphrase is checked by the vault, rate limited and
/// audited; an approval named is checked and consumed by the reveal itself), then reveals.
pub(crate) async fn run(
    state: &AppState,
    auth: &Auth,
    record_id: &str,
    ask: &Ask,
) -> Result<Shown, Problem> {
    let vault = state.vault();
    if ask.method == Verification::Passphrase {
        let upn = vault.record(record_id).await?.upn;
        let attempt = crate::auth::passphrase(&ask.passphrase);
        if !vault
            .check_passphrase(&auth.authorize(Permission::Reveal)?, &upn, &attempt)
            .await?
        {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "verification_failed",
                "the passphrase does not match; no code was revealed (the failed attempt is audited)",
            )
            .say(Msg::new("reveal-passphrase-mismatch")));
        }
    }
    let request = RevealRequest {
        upn: String::new(),
        ticket: ask.ticket.clone(),
        method: ask.method,
        purpose: ask.purpose,
        at_unix_secs: vec![ask.at],
        following_steps: u32::from(ask.purpose == Purpose::ReadOut),
        approval: ask.approval.clone(),
        record_id: Some(record_id.to_owned()),
    };
    let (record, codes) = vault
        .reveal(&auth.authorize(Permission::Reveal)?, &request)
        .await?;
    Ok(shape(
        Tr(auth.lang),
        state.now(),
        &auth.zone,
        record.upn,
        ask.purpose,
        &codes,
    ))
}

/// Records that the caller failed verification (audited; nothing is revealed).
pub(crate) async fn record_failure(
    state: &AppState,
    auth: &Auth,
    record_id: &str,
    method: &str,
    ticket: &str,
) -> Result<(), Problem> {
    let method: Verification = method.parse()?;
    let ticket = Ticket::new(ticket)?;
    state
        .vault()
        .record_failed_verification(
            &auth.authorize(Permission::Reveal)?,
            record_id,
            method,
            &ticket,
        )
        .await
        .map_err(|e: VaultError| Problem::from(e))
}

/// Labels and windows for the codes: for a read-out the current and the next code, otherwise
/// the code at the chosen time.
fn shape(
    t: Tr,
    now: u64,
    zone: &Zone,
    upn: String,
    purpose: Purpose,
    codes: &[tokendesk_otp::TotpCode],
) -> Shown {
    let secs = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
    let at = |t: u64| zone.when(secs(t)).text();
    let clock = |z: &Zone, t: u64| z.clock(secs(t));
    let rows: Vec<CodeRow> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| CodeRow {
            label: t.t(match (purpose, i) {
                (Purpose::ReadOut, 0) => "code-now",
                (Purpose::ReadOut, _) => "code-next",
                _ => "code-for-email",
            }),
            code: c.code.expose().to_owned(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            window: format!(
                "{} – {} {}",
                clock(zone, c.valid_from),
                clock(zone, c.valid_until),
                zone.abbreviation(secs(c.valid_from))
            ),
            window_utc: format!(
                "{} – {} UTC",
                clock(&Zone::utc(), c.valid_from),
                clock(&Zone::utc(), c.valid_until)
            ),
            until: t.t1("code-valid-until", "time", clock(zone, c.valid_until)),
            left: if now < c.valid_until {
                crate::pages::wizard::seconds_left(t, now, c.valid_from, c.valid_until)
            } else {
                t.t("code-expired")
            },
        })
        .collect();
    let (heading, note) = if purpose == Purpose::ReadOut {
        (t.t("reveal-heading-read-out"), t.t("reveal-note-read-out"))
    } else {
        let (from, until) = rows
            .first()
            .map_or((0, 0), |r| (r.valid_from, r.valid_until));
        (
            t.t("reveal-heading-email"),
            Msg::new("reveal-note-email")
                .arg("secs", i64::try_from(ENTRA_WINDOW_SECS).unwrap_or(i64::MAX))
                .arg("from", at(from.saturating_sub(ENTRA_WINDOW_SECS)))
                .arg("until", at(until.saturating_add(ENTRA_WINDOW_SECS)))
                .say(t),
        )
    };
    Shown {
        upn,
        purpose,
        heading,
        rows,
        note,
    }
}
