//! The state machine against a scripted in-memory card; the full token emulator runs
//! through real pcscd in `tests/it`.
use super::*;
use crate::apdu::ins;
use crate::info::encode_info;
use std::collections::VecDeque;

/// Replies from a script, recording the instruction bytes it was sent.
struct Scripted {
    replies: VecDeque<Result<Vec<u8>, TransportError>>,
    sent: Vec<u8>,
}

impl Scripted {
    fn new(replies: Vec<Result<Vec<u8>, TransportError>>) -> Self {
        Self {
            replies: replies.into(),
            sent: Vec::new(),
        }
    }
}

impl CardTransport for Scripted {
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<Vec<u8>, TransportError> {
        self.sent.push(apdu.ins());
        self.replies
            .pop_front()
            .unwrap_or(Err(TransportError::Failed("script exhausted".into())))
    }
}

fn ok(data: &[u8]) -> Result<Vec<u8>, TransportError> {
    let mut v = data.to_vec();
    v.extend_from_slice(&[0x90, 0x00]);
    Ok(v)
}

fn sw(word: u16) -> Result<Vec<u8>, TransportError> {
    Ok(word.to_be_bytes().to_vec())
}

fn info_reply(serial: &str) -> Result<Vec<u8>, TransportError> {
    ok(&encode_info(serial, 1_000))
}

fn run(card: &mut Scripted, allow_unknown_model: bool) -> Result<BurnReport, BurnError> {
    let seed = Seed::new(&[0x42; 20]).unwrap();
    let request = BurnRequest {
        seed: &seed,
        config: TokenConfig::default(),
        allow_unknown_model,
    };
    burn(card, &DeviceKey::single_profile(), &request, &|| 1_010)
}

const P2: &str = "8659622000001";
const ALL: [u8; 5] = [
    ins::GET_INFO,
    ins::GET_CHALLENGE,
    ins::AUTH,
    ins::WRITE_CONFIG,
    ins::WRITE_SEED,
];

#[test]
fn happy_path_sends_five_commands_in_order() {
    let mut card = Scripted::new(vec![info_reply(P2), ok(&[1; 8]), ok(&[]), ok(&[]), ok(&[])]);
    let report = run(&mut card, false).unwrap();
    assert_eq!(card.sent, ALL);
    assert_eq!(report.model, Some(Model::OtpcP2));
    assert_eq!(report.drift_secs, -10);
    assert_eq!(report.clock_set_unix_secs, 1_010);
}

#[test]
fn failed_auth_is_not_retried_and_nothing_is_written() {
    let mut card = Scripted::new(vec![info_reply(P2), ok(&[1; 8]), sw(0x6983), ok(&[])]);
    let err = run(&mut card, false).unwrap_err();
    assert_eq!(
        err,
        BurnError::AuthRejected {
            sw: StatusWord(0x6983)
        }
    );
    assert_eq!(card.sent, ALL[..3]);
    assert!(err.to_string().contains("not retried"));
    assert!(err.to_string().contains("lock"));
}

#[test]
fn unknown_model_is_refused_before_auth_unless_forced() {
    let mut card = Scripted::new(vec![info_reply("8659623000001")]);
    let err = run(&mut card, false).unwrap_err();
    assert!(matches!(err, BurnError::UnknownModel { .. }));
    assert_eq!(card.sent, [ins::GET_INFO]);

    let mut card = Scripted::new(vec![
        info_reply("8659623000001"),
        ok(&[1; 8]),
        ok(&[]),
        ok(&[]),
        ok(&[]),
    ]);
    assert_eq!(run(&mut card, true).unwrap().model, None);
}

#[test]
fn interrupted_seed_write_is_outcome_unknown() {
    let mut card = Scripted::new(vec![
        info_reply(P2),
        ok(&[1; 8]),
        ok(&[]),
        ok(&[]),
        Err(TransportError::Removed),
    ]);
    let err = run(&mut card, false).unwrap_err();
    assert_eq!(
        err,
        BurnError::OutcomeUnknown {
            step: Step::WriteSeed,
            reason: TransportError::Removed
        }
    );
    assert!(
        err.to_string()
            .starts_with("outcome unknown: re-read the token and verify")
    );
}

#[test]
fn interrupted_or_garbled_config_write_is_outcome_unknown() {
    for reply in [Err(TransportError::Timeout), Ok(vec![0x90])] {
        let mut card = Scripted::new(vec![info_reply(P2), ok(&[1; 8]), ok(&[]), reply]);
        let err = run(&mut card, false).unwrap_err();
        assert!(
            matches!(
                err,
                BurnError::OutcomeUnknown {
                    step: Step::WriteConfig,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn read_failures_before_writes_say_the_token_is_unchanged() {
    let mut card = Scripted::new(vec![Err(TransportError::Removed)]);
    let err = run(&mut card, false).unwrap_err();
    assert!(err.to_string().contains("unchanged"), "{err}");
    let mut card = Scripted::new(vec![info_reply(P2), ok(&[1; 7])]);
    assert_eq!(
        run(&mut card, false).unwrap_err(),
        BurnError::BadChallenge { len: 7 }
    );
    let mut card = Scripted::new(vec![ok(&[0, 1])]);
    assert!(matches!(
        run(&mut card, false).unwrap_err(),
        BurnError::BadInfo(_)
    ));
    let mut card = Scripted::new(vec![sw(0x6D00)]);
    assert_eq!(
        run(&mut card, false).unwrap_err(),
        BurnError::Refused {
            step: Step::GetInfo,
            sw: StatusWord(0x6D00)
        }
    );
}

#[test]
fn rejected_seed_on_restricted_model_says_old_seed_is_gone() {
    let mut card = Scripted::new(vec![
        info_reply(P2),
        ok(&[1; 8]),
        ok(&[]),
        ok(&[]),
        sw(0x6A80),
    ]);
    let err = run(&mut card, false).unwrap_err();
    assert_eq!(
        err,
        BurnError::SeedRejected {
            sw: StatusWord(0x6A80),
            seed_wiped: true
        }
    );
    assert!(err.to_string().contains("erased"));
}

#[test]
fn host_clock_beyond_u32_is_refused_before_writing() {
    let mut card = Scripted::new(vec![info_reply(P2), ok(&[1; 8]), ok(&[])]);
    let seed = Seed::new(&[1; 20]).unwrap();
    let request = BurnRequest {
        seed: &seed,
        config: TokenConfig::default(),
        allow_unknown_model: false,
    };
    let err = burn(&mut card, &DeviceKey::single_profile(), &request, &|| {
        u64::from(u32::MAX) + 1
    })
    .unwrap_err();
    assert!(matches!(err, BurnError::HostClockOutOfRange { .. }));
    assert_eq!(card.sent, ALL[..3]);
}

#[test]
fn sync_time_refuses_restricted_and_unknown_models_before_auth() {
    let key = DeviceKey::single_profile();
    let mut card = Scripted::new(vec![info_reply(P2)]);
    let err = sync_time(&mut card, &key, TokenConfig::default(), &|| 5).unwrap_err();
    assert_eq!(
        err,
        BurnError::RestrictedTimeSync {
            model: Model::OtpcP2
        }
    );
    assert!(err.to_string().contains("erases the seed"));
    assert_eq!(card.sent, [ins::GET_INFO]);

    let mut card = Scripted::new(vec![info_reply("1234567000")]);
    let err = sync_time(&mut card, &key, TokenConfig::default(), &|| 5).unwrap_err();
    assert!(matches!(err, BurnError::TimeSyncUnknownModel { .. }));

    let mut card = Scripted::new(vec![
        info_reply("8659632000009"),
        ok(&[1; 8]),
        ok(&[]),
        ok(&[]),
    ]);
    let report = sync_time(&mut card, &key, TokenConfig::default(), &|| 5).unwrap();
    assert_eq!(report.model, Some(Model::C302));
    assert_eq!(card.sent, ALL[..4]);
}
