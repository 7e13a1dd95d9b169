//! Differential test against oathtool (Debian `oathtool`, installed by scripts/test): a few
//! hundred random secrets, times, hashes, digit counts and periods must give the same codes.

use std::process::Command as Process;

use super::*;

fn oathtool(args: &[String]) -> String {
    let o = Process::new("oathtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("oathtool is required for this test ({e}); install it: apt-get install oathtool")
        });
    assert!(
        o.status.success(),
        "oathtool {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn matches_oathtool_on_random_cases() {
    let mut rng = Rng(0x0a7_7001);
    for case in 0..300 {
        let alg = ["sha1", "sha256", "sha512"][rng.below(3) as usize];
        let len = 10 + rng.below(54) as usize;
        let key = rng.bytes(len);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let digits = 6 + rng.below(3); // oathtool supports 6 to 8
        let period = [30, 60, 1 + rng.below(3600)][rng.below(3) as usize];
        let t = rng.below(4_000_000_000);
        let window = rng.below(4);
        let theirs = oathtool(&[
            format!("--totp={alg}"),
            format!("--digits={digits}"),
            format!("--time-step-size={period}s"),
            format!("--now=@{t}"),
            format!("--window={window}"),
            hex.clone(),
        ]);
        let ours = ok(&[
            "otp",
            "--codes",
            "--algorithm",
            alg,
            "--digits",
            &digits.to_string(),
            "--period",
            &period.to_string(),
            "--at",
            &t.to_string(),
            "--future",
            &window.to_string(),
            &format!("hex:{hex}"),
        ]);
        assert_eq!(
            ours, theirs,
            "case {case}: {alg} {digits} digits {period} s at {t}"
        );
    }
}
