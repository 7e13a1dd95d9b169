//! Record commands: capture (`add`), `list`, `show`, `code` (reveal) and the lifecycle moves.

use std::io::Write;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;
use tokendesk_otp::OtpKind;
use tokendesk_vault::{
    ListFilter, NewRecord, Record, RecordId, RevealRequest, Shipment, State, Ticket, TokenParams,
    TokenUpdate, Vault,
};

use super::{Ctx, vault_error, write_json};
use crate::error::{CliError, Outcome};
use crate::seed_arg::{self, ParamArgs, SeedOptions, SeedText};
use crate::timefmt::{Zone, parse_at};

/// `tokendesk add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The user's UPN (alice@contoso.com).
    #[arg(long, value_name = "UPN")]
    user: String,
    /// The secret shown under "Can't scan image?" (prefer `-` and standard input: arguments are
    /// visible to other users of this machine).
    #[arg(long, value_name = "SECRET", value_parser = seed_arg::parse_seed_text, conflicts_with_all = ["uri", "stdin"])]
    secret: Option<SeedText>,
    /// An otpauth:// link (from the QR code).
    #[arg(long, value_name = "URI", value_parser = seed_arg::parse_seed_text, conflicts_with = "stdin")]
    uri: Option<SeedText>,
    /// `-`: read the secret or link from standard input.
    #[arg(value_name = "-", value_parser = seed_arg::parse_seed_text)]
    stdin: Option<SeedText>,
    /// Token serial number.
    #[arg(long)]
    serial: Option<String>,
    /// Token model.
    #[arg(long)]
    model: Option<String>,
    /// Token manufacturer.
    #[arg(long)]
    manufacturer: Option<String>,
    /// Phone number for call-back verification.
    #[arg(long)]
    phone: Option<String>,
    /// Where the user's codes and notices are e-mailed (not the Microsoft 365 mailbox).
    #[arg(long)]
    email: Option<String>,
    /// The user's IANA time zone (e.g. Europe/Berlin), for times written to the user.
    #[arg(long, value_name = "ZONE")]
    time_zone: Option<String>,
    /// The user's language (en, de or fr), for the e-mails and the message with the token.
    #[arg(long, value_name = "LANG", value_parser = parse_language)]
    language: Option<&'static str>,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Notes (never a secret).
    #[arg(long)]
    notes: Option<String>,
    #[command(flatten)]
    seed: SeedOptions,
    #[command(flatten)]
    params: ParamArgs,
}

/// A language the pages, e-mails and messages are written in (`de`, `de-CH`, `FR` → `de`, `fr`).
fn parse_language(tag: &str) -> Result<&'static str, String> {
    tokendesk_web::page_language(tag).ok_or_else(|| {
        format!(
            "no e-mails in {tag:?}: choose one of {}",
            tokendesk_web::PAGE_LANGUAGES.join(", ")
        )
    })
}

pub(crate) fn token_params(params: &tokendesk_otp::TotpParams) -> Result<TokenParams, CliError> {
    if params.t0_unix_secs != 0 {
        return Err(CliError::input(anyhow!(
            "the vault stores tokens with T0 = 0 only"
        )));
    }
    Ok(TokenParams {
        algorithm: params.algorithm,
        digits: u32::from(params.digits.get()),
        period_secs: u32::try_from(params.period.secs()).unwrap_or(30),
    })
}

pub(crate) async fn add(
    ctx: &Ctx<'_>,
    args: &AddArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let text = args
        .secret
        .as_ref()
        .or(args.uri.as_ref())
        .or(args.stdin.as_ref())
        .ok_or_else(|| CliError::input(anyhow!("give --secret, --uri or - (standard input)")))?;
    let resolved = seed_arg::resolve(text, &args.seed, &args.params)?;
    if resolved.kind != OtpKind::Totp {
        return Err(CliError::input(anyhow!(
            "this is an HOTP (counter) link; the vault holds TOTP seeds only"
        )));
    }
    let new = NewRecord {
        upn: args.user.clone(),
        display_name: args.name.clone(),
        phone: args.phone.clone(),
        email: args.email.clone(),
        time_zone: args
            .time_zone
            .as_deref()
            .map(tokendesk_outbound::zone::check)
            .transpose()
            .map_err(|e| CliError::input(anyhow!("{e}")))?,
        notes: args.notes.clone(),
        serial: args.serial.clone(),
        model: args.model.clone(),
        manufacturer: args.manufacturer.clone(),
        params: token_params(&resolved.params)?,
    };
    let vault = ctx.open().await?;
    let admin = ctx.admin();
    let mut record = vault
        .capture(&admin, new, &resolved.secret)
        .await
        .map_err(vault_error)?;
    if args.language.is_some() {
        let id = RecordId(record.id.clone());
        record = vault
            .set_language(&admin, &id, args.language)
            .await
            .map_err(vault_error)?;
    }
    writeln!(out, "captured {} (record {})", record.upn, record.id)?;
    Ok(Outcome::Done)
}

/// `tokendesk list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records in this state.
    #[arg(long, value_name = "STATE", value_parser = parse_state)]
    state: Option<State>,
    /// Only shipments in transit for more than DAYS days.
    #[arg(long, value_name = "DAYS")]
    overdue: Option<i64>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

fn parse_state(s: &str) -> Result<State, String> {
    s.parse()
}

/// Opens the vault and finds the user's current record: the command line names records by
/// user, the vault moves them by id.
async fn open_current(ctx: &Ctx<'_>, user: &str) -> Result<(Vault, RecordId), CliError> {
    let vault = ctx.open().await?;
    let id = vault.current_record_id(user).await.map_err(vault_error)?;
    Ok((vault, id))
}

fn when(zone: &Zone, secs: i64) -> String {
    zone.datetime(u64::try_from(secs).unwrap_or_default())
}

pub(crate) async fn list(
    ctx: &Ctx<'_>,
    args: &ListArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let vault = ctx.open().await?;
    let filter = ListFilter {
        state: args.state,
        overdue_days: args.overdue,
    };
    let records = vault.list(&filter).await.map_err(vault_error)?;
    if args.json {
        write_json(
            &json!(records.iter().map(Record::to_json).collect::<Vec<_>>()),
            out,
        )?;
        return Ok(Outcome::Done);
    }
    let zone = Zone::local();
    for r in &records {
        writeln!(
            out,
            "{:<40} {:<10} {:<16} {}",
            r.upn,
            r.state,
            r.serial.as_deref().unwrap_or("-"),
            when(&zone, r.updated_unix_secs)
        )?;
    }
    writeln!(out, "{} record(s)", records.len())?;
    Ok(Outcome::Done)
}

/// `tokendesk show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The user's UPN.
    user: String,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn show(
    ctx: &Ctx<'_>,
    args: &ShowArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let vault = ctx.open().await?;
    let history = vault.history(&args.user).await.map_err(vault_error)?;
    if args.json {
        write_json(
            &json!(history.iter().map(Record::to_json).collect::<Vec<_>>()),
            out,
        )?;
        return Ok(Outcome::Done);
    }
    let zone = Zone::local();
    for r in &history {
        writeln!(out, "{}  {}  (record {})", r.upn, r.state, r.id)?;
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "  name {}  phone {}",
            opt(&r.display_name),
            opt(&r.phone)
        )?;
        writeln!(
            out,
            "  token {} {} {}  {} {} digits {} s  drift {} step(s)",
            opt(&r.manufacturer),
            opt(&r.model),
            opt(&r.serial),
            r.params.algorithm,
            r.params.digits,
            r.params.period_secs,
            r.drift_steps
        )?;
        if r.shipment.carrier.is_some() || r.shipment.tracking.is_some() {
            writeln!(
                out,
                "  shipped via {} {}",
                opt(&r.shipment.carrier),
                opt(&r.shipment.tracking)
            )?;
        }
        writeln!(
            out,
            "  captured {} by {}, updated {}; seed {}",
            when(&zone, r.created_unix_secs),
            r.created_by,
            when(&zone, r.updated_unix_secs),
            if r.has_seed { "sealed" } else { "destroyed" }
        )?;
    }
    Ok(Outcome::Done)
}

/// `tokendesk code`.
#[derive(Debug, Args)]
pub struct CodeArgs {
    /// The caller's UPN.
    user: String,
    /// Ticket or incident reference.
    #[arg(long)]
    ticket: String,
    /// How the caller was verified.
    #[arg(long, value_name = "METHOD", value_parser = ["call-back", "passphrase", "second-approver"])]
    verified: String,
    /// How the code will be passed on.
    #[arg(long, default_value = "read-out", value_parser = ["read-out", "email", "chat"])]
    purpose: String,
    /// Reveal the code for this time (Unix seconds or RFC 3339) instead of now: at most 3 steps
    /// back and --reveal-max-future-hours (default 24) ahead.
    #[arg(long, value_name = "TIME", conflicts_with = "future")]
    at: Option<String>,
    /// Also reveal the next N codes (for e-mail or chat).
    #[arg(long, value_name = "N", default_value_t = 0)]
    future: u32,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn code(
    ctx: &Ctx<'_>,
    args: &CodeArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let at = match &args.at {
        Some(text) => i64::try_from(parse_at(text).map_err(CliError::input)?)
            .map_err(|_| CliError::input(anyhow!("--at is too far in the future")))?,
        None => ctx.now,
    };
    if args.future > 10 {
        return Err(CliError::input(anyhow!("--future is limited to 10 codes")));
    }
    let vault = ctx.open().await?;
    let request = RevealRequest {
        upn: args.user.clone(),
        ticket: Ticket::new(&args.ticket).map_err(vault_error)?,
        method: args.verified.parse().map_err(vault_error)?,
        purpose: args.purpose.parse().map_err(vault_error)?,
        at_unix_secs: vec![at],
        following_steps: args.future,
        approval: None,
        record_id: None,
    };
    let (record, codes) = vault
        .reveal(&ctx.admin(), &request)
        .await
        .map_err(vault_error)?;
    if args.json {
        let items: Vec<_> = codes
            .iter()
            .map(|c| {
                json!({
                    "code": c.code.expose(),
                    "step": c.step,
                    "valid_from": c.valid_from,
                    "valid_until": c.valid_until,
                })
            })
            .collect();
        write_json(&json!({ "upn": record.upn, "codes": items }), out)?;
        return Ok(Outcome::Done);
    }
    let zone = Zone::local();
    for c in &codes {
        write!(
            out,
            "{}  valid {}–{} {}",
            c.code.expose(),
            zone.time(c.valid_from),
            zone.time(c.valid_until),
            zone.label(c.valid_from)
        )?;
        if u64::try_from(ctx.now).is_ok_and(|now| (c.valid_from..c.valid_until).contains(&now)) {
            write!(out, " ({} s left)", c.secs_left)?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "assumed acceptance window: about ±2 minutes around each step (Entra ID); reveal audited"
    )?;
    Ok(Outcome::Done)
}

/// `tokendesk burned`.
#[derive(Debug, Args)]
pub struct BurnedArgs {
    /// The user's UPN.
    user: String,
    /// Token serial number.
    #[arg(long)]
    serial: Option<String>,
    /// Token model.
    #[arg(long)]
    model: Option<String>,
    /// Token manufacturer.
    #[arg(long)]
    manufacturer: Option<String>,
}

fn done(out: &mut dyn Write, r: &Record) -> Result<Outcome, CliError> {
    writeln!(out, "{} is now {}", r.upn, r.state)?;
    Ok(Outcome::Done)
}

pub(crate) async fn burned(
    ctx: &Ctx<'_>,
    args: &BurnedArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let (vault, id) = open_current(ctx, &args.user).await?;
    let token = TokenUpdate {
        serial: args.serial.clone(),
        model: args.model.clone(),
        manufacturer: args.manufacturer.clone(),
    };
    let r = vault
        .mark_burned(&ctx.admin(), &id, token)
        .await
        .map_err(vault_error)?;
    done(out, &r)
}

/// `tokendesk ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// The user's UPN.
    user: String,
    /// Carrier.
    #[arg(long)]
    carrier: Option<String>,
    /// Tracking number.
    #[arg(long)]
    tracking: Option<String>,
    /// Expected delivery (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME")]
    expected: Option<String>,
}

pub(crate) async fn ship(
    ctx: &Ctx<'_>,
    args: &ShipArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let expected = args
        .expected
        .as_deref()
        .map(|t| {
            parse_at(t)
                .map_err(CliError::input)
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        })
        .transpose()?;
    let (vault, id) = open_current(ctx, &args.user).await?;
    let shipment = Shipment {
        carrier: args.carrier.clone(),
        tracking: args.tracking.clone(),
        expected_unix_secs: expected,
    };
    let r = vault
        .ship(&ctx.admin(), &id, shipment)
        .await
        .map_err(vault_error)?;
    done(out, &r)
}

/// `tokendesk deliver`.
#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// The user's UPN.
    user: String,
    /// The code the user reads from the arrived token.
    #[arg(long, value_parser = crate::seed_arg::parse_code)]
    code: crate::seed_arg::CodeArg,
    /// Steps either side of now to search for the code (token clock drift).
    #[arg(long, default_value_t = 10)]
    window: u64,
}

pub(crate) async fn deliver(
    ctx: &Ctx<'_>,
    args: &DeliverArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let (vault, id) = open_current(ctx, &args.user).await?;
    let r = vault
        .deliver(&ctx.admin(), &id, args.code.expose(), args.window)
        .await
        .map_err(vault_error)?;
    writeln!(
        out,
        "{} is now {} (token drift {} step(s))",
        r.upn, r.state, r.drift_steps
    )?;
    Ok(Outcome::Done)
}

/// `tokendesk cancel` / `tokendesk lost`.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// The user's UPN.
    user: String,
    /// Why (recorded in the audit trail).
    #[arg(long, default_value = "")]
    reason: String,
}

pub(crate) async fn cancel(
    ctx: &Ctx<'_>,
    args: &ReasonArgs,
    out: &mut dyn Write,
    lost: bool,
) -> Result<Outcome, CliError> {
    let (vault, id) = open_current(ctx, &args.user).await?;
    let r = if lost {
        vault.lose(&ctx.admin(), &id, &args.reason).await
    } else {
        vault.cancel(&ctx.admin(), &id, &args.reason).await
    }
    .map_err(vault_error)?;
    done(out, &r)
}

/// `tokendesk purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The user's UPN.
    #[arg(required_unless_present = "due", conflicts_with = "due")]
    user: Option<String>,
    /// Purge every delivered record whose retention has ended.
    #[arg(long)]
    due: bool,
}

pub(crate) async fn purge(
    ctx: &Ctx<'_>,
    args: &PurgeArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    match &args.user {
        Some(user) => {
            let (vault, id) = open_current(ctx, user).await?;
            let r = vault.purge(&ctx.admin(), &id).await.map_err(vault_error)?;
            done(out, &r)
        }
        None => {
            let vault = ctx.open().await?;
            let n = vault.purge_due(&ctx.admin()).await.map_err(vault_error)?;
            writeln!(out, "purged {n} record(s)")?;
            Ok(Outcome::Done)
        }
    }
}
