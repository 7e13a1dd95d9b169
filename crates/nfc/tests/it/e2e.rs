//! Burns, refusals and faults through real pcscd + vpcd against the emulated token.

use tokendesk_nfc::apdu::{self, CommandApdu, ins};
use tokendesk_nfc::{
    Algorithm, BurnError, BurnReport, BurnRequest, CardTransport, DeviceKey, DisplayTimeout,
    MODELS, Model, ParsedConfig, PcscCard, Period, Seed, Step, TokenConfig, TransportError,
    parse_config_tlv,
};

use tokendesk_otp as otp;

use crate::bench::Bench;
use crate::emulator::{Fault, TokenSpec};

/// Host clock handed to the burn (time is injected; the emulator stores what it is sent).
const HOST_NOW: u64 = 1_764_300_000;

/// Time-sync behaviour per serial prefix, restated from design note §4.3 rather than taken
/// from the crate under test: only miniOTP-2, OTPC-P1 and C302 keep their seed.
fn restricted(prefix: &str) -> bool {
    !["8659600", "8659612", "8659632"].contains(&prefix)
}

fn seed_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect()
}

/// The seed as HMAC sees it: trailing zeros do not change an HMAC key of at most 64 bytes.
fn hmac_equivalent(seed: &[u8]) -> &[u8] {
    let end = seed.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    &seed[..end]
}

fn burn_with(
    card: &mut PcscCard,
    seed: &[u8],
    config: TokenConfig,
) -> Result<BurnReport, BurnError> {
    let seed = Seed::new(seed).unwrap();
    let request = BurnRequest {
        seed: &seed,
        config,
        allow_unknown_model: false,
    };
    tokendesk_nfc::burn(card, &DeviceKey::single_profile(), &request, &|| HOST_NOW)
}

/// Burns `seed` with `config` in a fresh session and checks what the token stored.
fn burn_and_check(bench: &Bench, seed: &[u8], config: TokenConfig) -> BurnReport {
    let mut card = bench.card();
    let report = burn_with(&mut card, seed, config).unwrap();
    card.disconnect().unwrap();
    let st = bench.token().state();
    assert_eq!(
        st.seed.as_deref().map(hmac_equivalent),
        Some(hmac_equivalent(seed)),
        "stored seed differs for a {}-byte seed",
        seed.len()
    );
    let parsed = parse_config_tlv(st.config_tlv.as_deref().unwrap()).unwrap();
    assert_eq!(
        parsed,
        ParsedConfig {
            config,
            unix_secs: HOST_NOW as u32
        }
    );
    assert_eq!(report.clock_set_unix_secs, HOST_NOW as u32);
    assert_codes_match(seed, &st.seed.clone().unwrap(), parsed, st.clock_now(0));
    report
}

/// The codes the token will show (its stored seed, its stored settings, its clock) equal the
/// codes tokendesk_otp computes from the seed and settings the operator asked for.
fn assert_codes_match(asked_seed: &[u8], stored_seed: &[u8], stored: ParsedConfig, token_now: u64) {
    let totp = |seed: &[u8], config: TokenConfig| {
        let algorithm = match config.algorithm {
            Algorithm::Sha1 => otp::Algorithm::Sha1,
            Algorithm::Sha256 => otp::Algorithm::Sha256,
        };
        let params = otp::TotpParams {
            algorithm,
            digits: otp::Digits::new(6).unwrap(),
            period: otp::Period::new(u64::from(config.period.secs())).unwrap(),
            t0_unix_secs: 0,
        };
        otp::Totp::new(&otp::Secret::from_bytes(seed.to_vec()), params)
    };
    let token = totp(stored_seed, stored.config);
    let asked = totp(asked_seed, stored.config);
    let period = u64::from(stored.config.period.secs());
    for t in [
        token_now,
        token_now + period,
        token_now + 7 * period + 1,
        token_now + 86_400,
    ] {
        let (a, b) = (token.at(t).unwrap(), asked.at(t).unwrap());
        assert!(
            a.code.ct_eq_str(b.code.expose()),
            "token and host codes differ at t={t} for a {}-byte seed",
            asked_seed.len()
        );
    }
}

#[test]
fn burns_every_supported_model() {
    let configs = [
        TokenConfig::default(),
        TokenConfig {
            display_timeout: DisplayTimeout::Secs120,
            algorithm: Algorithm::Sha256,
            period: Period::Secs60,
        },
    ];
    for (i, model) in MODELS.into_iter().enumerate() {
        let prefix = model.serial_prefix();
        let mut spec = TokenSpec::new(&format!("{prefix}000{i:03}"), restricted(prefix));
        spec.initial_seed = Some(vec![0xEE; 20]);
        let bench = Bench::insert(spec);
        let report = burn_and_check(&bench, &seed_bytes(20), configs[i % 2]);
        assert_eq!(report.model, Some(model));
        assert_eq!(report.info.serial, bench.token().spec.serial);
        assert_eq!(
            bench.token().state().ins_log,
            [
                ins::GET_INFO,
                ins::GET_CHALLENGE,
                ins::AUTH,
                ins::WRITE_CONFIG,
                ins::WRITE_SEED
            ],
            "{model}: one session, config before seed, one auth"
        );
    }
}

#[test]
fn burns_sha1_and_sha256_at_30_and_60_seconds() {
    let bench = Bench::insert(TokenSpec::new("8659622000001", true));
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256] {
        for period in [Period::Secs30, Period::Secs60] {
            let config = TokenConfig {
                display_timeout: DisplayTimeout::Secs30,
                algorithm,
                period,
            };
            burn_and_check(&bench, &seed_bytes(32), config);
        }
    }
}

#[test]
fn burns_seeds_of_10_20_32_and_63_bytes() {
    let bench = Bench::insert(TokenSpec::new("8659632000002", false));
    for len in [10, 20, 32, 63] {
        burn_and_check(&bench, &seed_bytes(len), TokenConfig::default());
        // Short seeds arrive zero-extended to 20 bytes (§5.2); longer ones byte for byte.
        assert_eq!(
            bench.token().state().seed.as_ref().unwrap().len(),
            len.max(20)
        );
    }
}

#[test]
fn info_reads_serial_model_and_drift() {
    let mut spec = TokenSpec::new("8659601000077", true);
    spec.clock_unix_secs = (HOST_NOW - 95) as u32;
    let bench = Bench::insert(spec);
    let mut card = bench.card();
    let info = tokendesk_nfc::read_info(&mut card).unwrap();
    assert_eq!(info.serial, "8659601000077");
    assert_eq!(info.model(), Some(Model::MiniOtp3));
    let drift = info.drift_secs(HOST_NOW);
    assert!((-96..=-94).contains(&drift), "drift {drift}");
}

#[test]
fn wrong_key_is_refused_once_without_retry_and_the_token_locks() {
    let mut spec = TokenSpec::new("8659622000003", true);
    spec.key = [0x11; 16];
    spec.lock_after = 2;
    spec.initial_seed = Some(vec![0xEE; 20]);
    let bench = Bench::insert(spec);

    let mut card = bench.card();
    let err = burn_with(&mut card, &seed_bytes(20), TokenConfig::default()).unwrap_err();
    assert_eq!(
        err,
        BurnError::AuthRejected {
            sw: apdu::StatusWord(0x6983)
        }
    );
    assert!(err.to_string().contains("not retried"), "{err}");
    card.disconnect().unwrap();
    {
        let st = bench.token().state();
        assert_eq!(st.ins_log, [ins::GET_INFO, ins::GET_CHALLENGE, ins::AUTH]);
        assert!(!st.locked);
        assert_eq!(st.seed.as_deref(), Some(&[0xEE; 20][..]), "seed untouched");
    }

    // A second failure reaches lock_after; then even the token's own key is refused.
    let mut card = bench.card();
    burn_with(&mut card, &seed_bytes(20), TokenConfig::default()).unwrap_err();
    assert!(bench.token().state().locked);
    let right_key = DeviceKey::from_bytes([0x11; 16]);
    let seed = Seed::new(&seed_bytes(20)).unwrap();
    let request = BurnRequest {
        seed: &seed,
        config: TokenConfig::default(),
        allow_unknown_model: false,
    };
    let err = tokendesk_nfc::burn(&mut card, &right_key, &request, &|| HOST_NOW).unwrap_err();
    assert!(matches!(err, BurnError::AuthRejected { .. }), "{err:?}");
    assert_eq!(bench.token().state().seed.as_deref(), Some(&[0xEE; 20][..]));
}

/// Flips one bit of the MAC of every secure command: a corrupted frame as the token sees it.
struct CorruptMac(PcscCard);

impl CardTransport for CorruptMac {
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<Vec<u8>, TransportError> {
        if apdu.as_bytes()[0] != apdu::CLA_SECURE {
            return self.0.transmit(apdu);
        }
        let mut bytes = apdu.as_bytes().to_vec();
        *bytes.last_mut().unwrap() ^= 0x01;
        self.0.transmit(&CommandApdu::from_bytes(bytes))
    }
}

#[test]
fn bad_mac_is_rejected_by_the_token_and_nothing_changes() {
    let mut spec = TokenSpec::new("8659622000004", true);
    spec.initial_seed = Some(vec![0xEE; 20]);
    let bench = Bench::insert(spec);
    let mut transport = CorruptMac(bench.card());
    let seed = Seed::new(&seed_bytes(20)).unwrap();
    let request = BurnRequest {
        seed: &seed,
        config: TokenConfig::default(),
        allow_unknown_model: false,
    };
    let err = tokendesk_nfc::burn(
        &mut transport,
        &DeviceKey::single_profile(),
        &request,
        &|| HOST_NOW,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            BurnError::ConfigRejected {
                sw: apdu::StatusWord(0x6988),
                ..
            }
        ),
        "{err:?}"
    );
    let st = bench.token().state();
    assert!(
        !st.ins_log.contains(&ins::WRITE_SEED),
        "seed must not be sent after a refusal"
    );
    assert_eq!(st.config_tlv, None);
    assert_eq!(st.seed.as_deref(), Some(&[0xEE; 20][..]));
}

#[test]
fn unknown_model_is_refused_before_authentication() {
    let bench = Bench::insert(TokenSpec::new("8659623000005", true));
    let mut card = bench.card();
    let err = burn_with(&mut card, &seed_bytes(20), TokenConfig::default()).unwrap_err();
    assert_eq!(
        err,
        BurnError::UnknownModel {
            serial: "8659623000005".into()
        }
    );
    assert!(err.to_string().contains("--force-unknown-model"));
    assert_eq!(bench.token().state().ins_log, [ins::GET_INFO]);

    // With the override it burns.
    let seed = Seed::new(&seed_bytes(20)).unwrap();
    let request = BurnRequest {
        seed: &seed,
        config: TokenConfig::default(),
        allow_unknown_model: true,
    };
    let report = tokendesk_nfc::burn(&mut card, &DeviceKey::single_profile(), &request, &|| {
        HOST_NOW
    })
    .unwrap();
    assert_eq!(report.model, None);
    assert_eq!(
        bench.token().state().seed.as_deref().map(hmac_equivalent),
        Some(hmac_equivalent(&seed_bytes(20)))
    );
}

#[test]
fn token_removed_during_seed_write_is_outcome_unknown() {
    let mut spec = TokenSpec::new("8659622000006", true);
    spec.fault = Fault::DropOnSeedWrite;
    let bench = Bench::insert(spec);
    let mut card = bench.card();
    let err = burn_with(&mut card, &seed_bytes(20), TokenConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            BurnError::OutcomeUnknown {
                step: Step::WriteSeed,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("outcome unknown: re-read the token and verify"),
        "{err}"
    );
    assert!(bench.token().state().ins_log.ends_with(&[ins::WRITE_SEED]));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        bench.token().is_gone(),
        "the token left the field mid seed write"
    );
}

#[test]
fn restricted_model_loses_its_seed_on_config_and_sync_time_refuses_it() {
    let mut spec = TokenSpec::new("8659622000007", true);
    spec.initial_seed = Some(vec![0xEE; 20]);
    let bench = Bench::insert(spec);
    let mut card = bench.card();
    let err = tokendesk_nfc::sync_time(
        &mut card,
        &DeviceKey::single_profile(),
        TokenConfig::default(),
        &|| HOST_NOW,
    )
    .unwrap_err();
    assert_eq!(
        err,
        BurnError::RestrictedTimeSync {
            model: Model::OtpcP2
        }
    );
    assert_eq!(bench.token().state().ins_log, [ins::GET_INFO]);
    assert!(bench.token().state().seed.is_some());

    // What the refusal protects against: a config write alone wipes this model's seed.
    let key = DeviceKey::single_profile();
    let reply = card.transmit(&apdu::get_challenge()).unwrap();
    let challenge: [u8; 8] = reply[..8].try_into().unwrap();
    assert_eq!(
        card.transmit(&apdu::authenticate(&key, &challenge))
            .unwrap(),
        [0x90, 0x00]
    );
    let config = apdu::write_config(&key, &TokenConfig::default().to_tlv(HOST_NOW as u32));
    assert_eq!(card.transmit(&config).unwrap(), [0x90, 0x00]);
    assert_eq!(bench.token().state().seed, None);
}

#[test]
fn sync_time_keeps_the_seed_on_unrestricted_models() {
    let mut spec = TokenSpec::new("8659632000008", false);
    spec.initial_seed = Some(vec![0xEE; 20]);
    spec.clock_unix_secs = 1_000;
    let bench = Bench::insert(spec);
    let mut card = bench.card();
    let report = tokendesk_nfc::sync_time(
        &mut card,
        &DeviceKey::single_profile(),
        TokenConfig::default(),
        &|| HOST_NOW,
    )
    .unwrap();
    assert_eq!(report.model, Some(Model::C302));
    let st = bench.token().state();
    assert_eq!(st.seed.as_deref(), Some(&[0xEE; 20][..]));
    assert_eq!(st.clock.unwrap().0, HOST_NOW as u32);
}

/// libpcsclite reads the service socket path from `PCSCLITE_CSOCK_NAME` once per process, so
/// the "pcscd not running" case runs in a child copy of this test binary pointed at a socket
/// that does not exist; the shared pcscd keeps running for the other tests.
#[test]
fn missing_pcscd_gives_install_and_start_instructions() {
    const SOCKET: &str = "/nonexistent/tokendesk-test/pcscd.comm";
    if std::env::var("PCSCLITE_CSOCK_NAME").as_deref() == Ok(SOCKET) {
        let err = tokendesk_nfc::Pcsc::establish()
            .err()
            .expect("no service expected");
        assert_eq!(err, tokendesk_nfc::PcscError::NoService);
        let msg = err.to_string();
        assert!(
            msg.starts_with("the PC/SC service (pcscd) is not running"),
            "{msg}"
        );
        assert!(msg.contains("apt-get install pcscd libccid"), "{msg}");
        assert!(msg.contains("systemctl start pcscd"), "{msg}");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "e2e::missing_pcscd_gives_install_and_start_instructions",
        ])
        .env("PCSCLITE_CSOCK_NAME", SOCKET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}
