//! Every reason of the vault and the seed parser, worded in every language: no raw key, the
//! English equal to the `Display`, the German and French different from it.

use std::collections::BTreeSet;

use tokendesk_vault::State;

use super::*;
use crate::i18n::{Lang, Tr};

/// Each vault reason's place in this list; a new variant does not compile until it has one,
/// and then fails [`every_vault_reason_is_worded_in_every_language`] until it has a sample.
fn ordinal(i: &Invalid) -> usize {
    match i {
        Invalid::Email { .. } => 0,
        Invalid::TimeZone { .. } => 1,
        Invalid::LanguageTag { .. } => 2,
        Invalid::UpnEmpty => 3,
        Invalid::UpnSpaces { .. } => 4,
        Invalid::NotUpn { .. } => 5,
        Invalid::UpnTooLong => 6,
        Invalid::EntraUpn { .. } => 7,
        Invalid::Digits { .. } => 8,
        Invalid::Period { .. } => 9,
        Invalid::Param(_) => 10,
        Invalid::Item { .. } => 11,
        Invalid::BatchActiveRecord => 12,
        Invalid::NotStored => 13,
        Invalid::ChangedMeanwhile { .. } => 14,
        Invalid::PageLinkStale => 15,
        Invalid::CodeAmbiguous => 16,
        Invalid::ClaimNotCaptured { .. } => 17,
        Invalid::BoundToOtherToken { .. } => 18,
        Invalid::TokenTaken { .. } => 19,
        Invalid::BeforeEpoch => 20,
        Invalid::Time(_) => 21,
        Invalid::UnknownMethod { .. } => 22,
        Invalid::UnknownPurpose { .. } => 23,
        Invalid::TicketMissing => 24,
        Invalid::TicketTooLong { .. } => 25,
        Invalid::RevealSteps => 26,
        Invalid::PassphraseUtf8 => 27,
        Invalid::PassphraseTooShort { .. } => 28,
        Invalid::PassphraseInactive { .. } => 29,
        Invalid::NoPassphrase { .. } => 30,
        Invalid::ApprovalRequestIncomplete => 31,
        Invalid::ExportPurged { .. } => 32,
        Invalid::ExportRefused { .. } => 33,
        Invalid::NoteAction { .. } => 34,
        Invalid::UserName => 35,
        Invalid::DisplayName => 36,
        Invalid::PasswordUtf8 => 37,
        Invalid::PasswordTooShort { .. } => 38,
        Invalid::PasswordTooLong => 39,
        Invalid::PasswordIsUserName => 40,
        Invalid::PasswordUnchanged => 41,
        Invalid::EnrolmentMissing => 42,
        Invalid::ApiKeyName => 43,
        Invalid::DeskName => 44,
        Invalid::NoFreeDeskCode => 45,
        Invalid::PreferenceZone => 46,
        Invalid::PreferenceLanguage => 47,
        Invalid::StaffExistAlready => 48,
        Invalid::SetupLifetime => 49,
        Invalid::Operator(_) => 50,
        Invalid::BulkDigits => 51,
        Invalid::EmptyUserList => 52,
        Invalid::SerialMissing => 53,
    }
}
const INVALID_VARIANTS: usize = 54;

fn upn(rule: UpnRule) -> Invalid {
    Invalid::EntraUpn {
        upn: "bob smith@contoso".into(),
        rule,
    }
}

/// A representative value of every vault reason (every UPN rule too).
fn vault_samples() -> Vec<Invalid> {
    let s = |v: &str| v.to_owned();
    vec![
        Invalid::Email { email: s("bob@") },
        Invalid::TimeZone {
            zone: s("Mars/Base"),
        },
        Invalid::LanguageTag { tag: s("d e") },
        Invalid::UpnEmpty,
        Invalid::UpnSpaces {
            upn: s("bob smith"),
        },
        Invalid::NotUpn { upn: s("bob") },
        Invalid::UpnTooLong,
        upn(UpnRule::NeedsAt),
        upn(UpnRule::LocalChar('"')),
        upn(UpnRule::LocalTooLong),
        upn(UpnRule::LocalDot),
        upn(UpnRule::DomainTooLong),
        upn(UpnRule::DomainChar('_')),
        upn(UpnRule::DomainShape),
        Invalid::Digits { digits: 7 },
        Invalid::Period { secs: 45 },
        Invalid::Param(ParamError::Digits { given: 12 }),
        Invalid::Item {
            item: 3,
            reason: Box::new(Invalid::NotUpn { upn: s("erin") }),
        },
        Invalid::BatchActiveRecord,
        Invalid::NotStored,
        Invalid::ChangedMeanwhile {
            upn: s("bob@contoso.com"),
        },
        Invalid::PageLinkStale,
        Invalid::CodeAmbiguous,
        Invalid::ClaimNotCaptured {
            upn: s("bob@contoso.com"),
            state: State::Burned,
        },
        Invalid::BoundToOtherToken {
            upn: s("bob@contoso.com"),
            serial: s("8659622000501"),
        },
        Invalid::TokenTaken {
            serial: s("8659622000501"),
            upn: s("alice@contoso.com"),
            state: State::Shipped,
        },
        Invalid::BeforeEpoch,
        Invalid::Time(TimeError::OutOfRange),
        Invalid::UnknownMethod { given: s("fax") },
        Invalid::UnknownPurpose { given: s("post") },
        Invalid::TicketMissing,
        Invalid::TicketTooLong { max: 100 },
        Invalid::RevealSteps,
        Invalid::PassphraseUtf8,
        Invalid::PassphraseTooShort { min: 12 },
        Invalid::PassphraseInactive {
            upn: s("bob@contoso.com"),
            state: State::Delivered,
        },
        Invalid::NoPassphrase {
            upn: s("bob@contoso.com"),
        },
        Invalid::ApprovalRequestIncomplete,
        Invalid::ExportPurged {
            state: State::Purged,
        },
        Invalid::ExportRefused {
            reason: GraphError::Period {
                upn: s("bob@contoso.com"),
                period_secs: 45,
            },
        },
        Invalid::ExportRefused {
            reason: GraphError::Algorithm {
                upn: s("bob@contoso.com"),
                algorithm: tokendesk_otp::Algorithm::Sha512,
            },
        },
        Invalid::ExportRefused {
            reason: GraphError::Missing {
                upn: s("bob@contoso.com"),
                field: "serialNumber",
            },
        },
        Invalid::ExportRefused {
            reason: GraphError::SecretTooLong {
                upn: s("bob@contoso.com"),
            },
        },
        Invalid::ExportRefused {
            reason: GraphError::Serialise,
        },
        Invalid::NoteAction {
            action: s("reveal"),
        },
        Invalid::UserName,
        Invalid::DisplayName,
        Invalid::PasswordUtf8,
        Invalid::PasswordTooShort { min: 12 },
        Invalid::PasswordTooLong,
        Invalid::PasswordIsUserName,
        Invalid::PasswordUnchanged,
        Invalid::EnrolmentMissing,
        Invalid::ApiKeyName,
        Invalid::DeskName,
        Invalid::NoFreeDeskCode,
        Invalid::PreferenceZone,
        Invalid::PreferenceLanguage,
        Invalid::StaffExistAlready,
        Invalid::SetupLifetime,
        Invalid::BulkDigits,
        Invalid::EmptyUserList,
        Invalid::SerialMissing,
        Invalid::Operator(s("cannot read the backup /tmp/x: not found")),
    ]
}

/// `msg` in English equals `english`; in German and French it has no raw key and differs
/// from the English (unless `same_ok`: text passed through as it is).
fn check(msg: &Msg, english: &str, same_ok: bool) {
    assert_eq!(msg.say(Tr(Lang::En)), english, "{}", msg.key);
    for lang in [Lang::De, Lang::Fr] {
        let text = msg.say(Tr(lang));
        assert!(!text.contains('⟦'), "{}: {text}", lang.tag());
        assert!(
            same_ok || text != english,
            "{} {}: {text}",
            lang.tag(),
            msg.key
        );
    }
}

#[test]
fn every_vault_reason_is_worded_in_every_language() {
    let samples = vault_samples();
    let seen: BTreeSet<usize> = samples.iter().map(ordinal).collect();
    assert_eq!(
        seen,
        (0..INVALID_VARIANTS).collect(),
        "a sample per variant"
    );
    for i in &samples {
        let operator = matches!(i, Invalid::Operator(_));
        check(&invalid(i), &i.to_string(), operator);
        let err = VaultError::Invalid(i.clone());
        let words = vault(&err).expect("worded");
        check(&words, &err.to_string(), operator);
    }
    // A German page names the state in German.
    let taken = invalid(&samples[25]).say(Tr(Lang::De));
    assert!(taken.contains("(versandt)"), "{taken}");
}

#[test]
fn every_approval_and_burn_grant_refusal_is_worded_in_every_language() {
    use ApprovalRefusal as A;
    use BurnGrantRefusal as B;
    let approvals = [
        A::Unknown,
        A::ApprovedAlready,
        A::RequestExpired,
        A::OwnRequest,
        A::NotApproved,
        A::OwnApproval,
        A::Used,
        A::Expired,
        A::OtherRecord,
    ];
    for reason in approvals {
        check(&approval(reason), &reason.to_string(), false);
        let err = VaultError::Reveal(RevealError::ApprovalInvalid {
            id: "a1b2".into(),
            reason,
        });
        check(&vault(&err).expect("worded"), &err.to_string(), false);
    }
    let grants = [
        B::StaffOnly,
        B::NotCaptured,
        B::NotAGrant,
        B::Unknown,
        B::OtherPerson,
        B::Used,
        B::UsedMeanwhile,
        B::Expired,
        B::NoLongerCaptured,
    ];
    for reason in grants {
        let err = VaultError::Staff(StaffError::BurnGrantRefused { reason });
        check(&vault(&err).expect("worded"), &err.to_string(), false);
    }
}

/// The other vault errors whose English names a user or states: worded here too.
#[test]
fn lifecycle_and_sign_in_refusals_are_worded_in_every_language() {
    let upn = || "bob@contoso.com".to_owned();
    let mut errors: Vec<VaultError> = vec![
        RecordError::ActiveRecordExists {
            upn: upn(),
            state: State::Shipped,
        }
        .into(),
        RecordError::CodeMismatch {
            upn: upn(),
            window_steps: 2,
        }
        .into(),
        StaffError::NoRole { login: upn() }.into(),
        StaffError::ProviderLoginUnusable {
            login: "Bob Smith".into(),
            reason: Invalid::UserName,
        }
        .into(),
        StaffError::LinkedElsewhere {
            username: "bob".into(),
        }
        .into(),
        StaffError::Disabled.into(),
        StaffError::FlowInvalid.into(),
    ];
    errors.push(
        RevealError::OutsideRevealWindow(WindowRefusal::Ahead {
            ahead_secs: 7200,
            max_secs: 3600,
        })
        .into(),
    );
    errors.push(
        RevealError::OutsideRevealWindow(WindowRefusal::Past {
            ago_secs: 200,
            steps: 3,
            back_secs: 90,
        })
        .into(),
    );
    for (from, to) in [
        (State::Captured, State::Delivered),
        (State::Purged, State::Shipped),
    ] {
        errors.push(from.transition(to).unwrap_err().into());
    }
    for err in &errors {
        check(&vault(err).expect("worded"), &err.to_string(), false);
    }
    let transition = errors
        .iter()
        .find(|e| matches!(e, VaultError::Record(RecordError::Transition(_))))
        .expect("a transition refusal");
    let german = vault(transition).unwrap().say(Tr(Lang::De));
    assert!(german.contains("von erfasst nach zugestellt"), "{german}");
}

#[test]
fn every_seed_parser_reason_is_worded_in_every_language() {
    use InputError as E;
    let mut samples = vec![
        E::Empty,
        E::NotBase32 {
            position: 3,
            character: '0',
        },
        E::NotBase32 {
            position: 4,
            character: '1',
        },
        E::NotBase32 {
            position: 5,
            character: '8',
        },
        E::NotBase32 {
            position: 6,
            character: '9',
        },
        E::NotBase32 {
            position: 7,
            character: ' ',
        },
        E::NotBase32 {
            position: 8,
            character: '\t',
        },
        E::NotBase32 {
            position: 9,
            character: '!',
        },
        E::MisplacedPadding { position: 5 },
        E::Base32Length { chars: 17 },
        E::Base32TrailingBits,
        E::NotHex {
            position: 2,
            character: 'g',
        },
        E::HexOddLength { digits: 41 },
        E::TooShort { bits: 40 },
        E::TooLong {
            bytes: 200,
            max: 128,
        },
        E::MicrosoftPushQr,
        E::Passkey,
        E::SerialBarcode { digits: 13 },
        E::OtherUrl {
            scheme: "https".into(),
        },
        E::OtherUrl {
            scheme: "another kind of".into(),
        },
        E::UriType,
        E::UriMissingSecret,
        E::UriDuplicate { name: "secret" },
        E::UriMissingCounter,
        E::UriNumber { name: "digits" },
        E::Param(ParamError::Digits { given: 12 }),
        E::Param(ParamError::Period { given: 0 }),
        E::Param(ParamError::Algorithm {
            given: "MD5".into(),
        }),
        E::Param(ParamError::Algorithm {
            given: String::new(),
        }),
        E::MigrationMd5 { index: 2 },
        E::MigrationEmpty,
    ];
    for reason in [Malformed::PercentNotUtf8, Malformed::NotOtpauth] {
        samples.push(E::UriMalformed { reason });
    }
    for reason in [
        Malformed::NoData,
        Malformed::DataTooLarge,
        Malformed::DataNotText,
        Malformed::DataNotBase64,
        Malformed::NotExportMessage,
        Malformed::AccountAlgorithm,
        Malformed::AccountDigits,
        Malformed::AccountCounter,
        Malformed::AccountType,
    ] {
        samples.push(E::MigrationData { reason });
    }
    for e in &samples {
        check(&input(e), &e.to_string(), false);
        let problem = SeedProblem::Input(e.clone());
        check(&problem.msg(), &problem.to_string(), false);
    }
    for e in [TimeError::BeforeT0, TimeError::OutOfRange] {
        check(&time(&e), &e.to_string(), false);
    }
    for p in [SeedProblem::Hotp, SeedProblem::Migration { accounts: 3 }] {
        check(&p.msg(), &p.to_string(), false);
    }
}

/// The real parser's errors for some bad input come out in German, and never echo the
/// text (the seed parser's rule, kept by the catalogue).
#[test]
fn parsed_seeds_are_refused_in_german_without_echoing_them() {
    for text in [
        "JBSWY3DPEHPK3PX0",
        "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP",
        "https://example.com/JBSWY3DP",
        "JBSWY3DPEHPK3PXP:",
    ] {
        let problem = crate::toolset::parse_seed(text, false).unwrap_err();
        let german = problem.msg().say(Tr(Lang::De));
        assert_ne!(german, problem.to_string());
        assert!(!german.to_uppercase().contains("JBSWY3DP"), "{german}");
    }
}
