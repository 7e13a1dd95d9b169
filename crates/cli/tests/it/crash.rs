//! Issue 18: `kill -9` at random moments during an import, a key rotation, purges, a backup,
//! reveals and an export, on a real SQLite vault, then the checks an administrator would make: SQLite's own
//! `PRAGMA integrity_check` (the `sqlite3` program, not our code), `tokendesk audit verify`, the
//! import all there or not at all, every seed still opening after a rotation, a backup file
//! either absent or restorable, every code a killed process printed audited, no seed written to
//! an export file before the export's audit entries committed, and every record's state
//! explained by its history.
//!
//! `TOKENDESK_CRASH_ITERATIONS` (default 20, the `scripts/test` run; `bench/crash.sh` runs 200)
//! and `TOKENDESK_CRASH_SEED` (default: from the clock, printed so a failure can be replayed).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{stderr, stdout, tokendesk, tokendesk_at, tokendesk_process};

/// Rows of each killed import: long enough that a kill often lands inside the transaction.
const IMPORT_ROWS: usize = 3000;
/// Users every reveal and rotation check uses, captured before the loop.
const BASE_USERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Import,
    Rotate,
    Purge,
    Backup,
    Reveals,
    Export,
}

const OPS: [Op; 6] = [
    Op::Import,
    Op::Rotate,
    Op::Purge,
    Op::Backup,
    Op::Reveals,
    Op::Export,
];

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A base32 seed for user number `n`, distinct per user and iteration.
fn secret_for(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(*ALPHABET.get((x % 32) as usize).unwrap())
        })
        .collect()
}

struct Rig {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    rng: Rng,
}

impl Rig {
    fn td(&self, args: &[&str]) -> std::process::Output {
        let mut c = tokendesk_at(&self.data);
        c.args(["--reveal-quota", "1000000", "--retention-days", "30"]);
        c.args(args);
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.td(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    }

    fn add(&self, upn: &str, secret: &str) {
        let mut c = tokendesk_at(&self.data);
        c.args(["add", "--user", upn, "-"]).write_stdin(secret);
        let o = c.output().unwrap();
        assert!(o.status.success(), "add {upn}: {}", stderr(&o));
    }

    fn sql(&self, query: &str) -> String {
        let o = Command::new("sqlite3")
            .arg(self.data.join("vault.db"))
            .arg(query)
            .output()
            .expect("the sqlite3 program (Debian sqlite3; scripts/test installs it)");
        assert!(o.status.success(), "sqlite3 {query}: {}", stderr(&o));
        stdout(&o).trim().to_owned()
    }

    fn count(&self, query: &str) -> u64 {
        self.sql(query).parse().unwrap()
    }

    /// The command line of one killable operation, run through `sh` so a kill can also land
    /// between the processes of a sequence.
    fn script(&mut self, op: Op, iteration: usize) -> String {
        let bin = assert_cmd::cargo::cargo_bin("tokendesk");
        let td = format!(
            "'{}' --data '{}' --reveal-quota 1000000 --retention-days 30",
            bin.display(),
            self.data.display()
        );
        match op {
            Op::Import => {
                let csv = self.root.join(format!("import-{iteration}.csv"));
                let mut rows = String::from("username,secret\n");
                for k in 0..IMPORT_ROWS {
                    let n = (iteration * IMPORT_ROWS + k) as u64 + 1_000_000;
                    rows.push_str(&format!(
                        "imp{iteration}-{k}@contoso.com,{}\n",
                        secret_for(n)
                    ));
                }
                std::fs::write(&csv, rows).unwrap();
                format!("{td} import '{}' --format spreadsheet", csv.display())
            }
            Op::Rotate => format!("{td} key rotate"),
            Op::Purge => {
                // Three delivered records, prepared without a kill.
                let mut steps = Vec::new();
                for k in 0..3 {
                    let upn = format!("del{iteration}-{k}@contoso.com");
                    let secret = secret_for(5_000_000 + (iteration * 3 + k) as u64);
                    self.add(&upn, &secret);
                    self.ok(&["burned", &upn]);
                    self.ok(&["ship", &upn]);
                    let code = stdout(&tokendesk().args(["otp", &secret]).output().unwrap());
                    self.ok(&["deliver", &upn, "--code", code.trim()]);
                    steps.push(format!("{td} purge '{upn}'"));
                }
                steps.join(" && ")
            }
            Op::Backup => {
                let file = self.root.join(format!("backup-{iteration}.tdb"));
                format!("{td} backup '{}'", file.display())
            }
            Op::Reveals => {
                let steps: Vec<String> = (0..6)
                    .map(|k| {
                        let user = self.rng.below(BASE_USERS as u64);
                        format!(
                            "{td} code base{user}@contoso.com --ticket INC-{iteration}-{k} \
                             --verified call-back"
                        )
                    })
                    .collect();
                steps.join(" && ")
            }
            Op::Export => {
                let file = self.root.join(format!("export-{iteration}.csv"));
                format!("{td} export --format entra --out '{}'", file.display())
            }
        }
    }
}

/// Audit entries counted before an operation.
struct Before {
    reveals: u64,
    exports: u64,
}

#[derive(Default, Debug)]
struct Tally {
    killed: usize,
    completed: usize,
}

#[test]
fn issue_18_kill_9_at_random_moments_leaves_a_consistent_vault() {
    let iterations: usize = std::env::var("TOKENDESK_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("TOKENDESK_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(fresh_seed);
    eprintln!("crash loop: {iterations} iterations, TOKENDESK_CRASH_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let mut rig = Rig {
        root: dir.path().to_owned(),
        data: dir.path().join("data"),
        _dir: dir,
        rng: Rng(seed),
    };
    rig.ok(&["init"]);
    for u in 0..BASE_USERS {
        rig.add(&format!("base{u}@contoso.com"), &secret_for(u as u64));
    }
    // How long each operation takes when left alone (the longest seen): kills land uniformly
    // within that time.
    let mut duration = [Duration::ZERO; OPS.len()];
    let mut tally: Vec<Tally> = OPS.iter().map(|_| Tally::default()).collect();
    for iteration in 0..iterations {
        let slot = iteration % OPS.len();
        let op = OPS[slot];
        let calibrating = iteration < OPS.len();
        let script = rig.script(op, iteration);
        let before = Before {
            reveals: rig.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal'"),
            exports: rig.count("SELECT COUNT(*) FROM audit WHERE action = 'export'"),
        };
        let out_file = rig.root.join("op.out");
        let started = Instant::now();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("TOKENDESK_ACTOR", "crash")
            .stdout(std::fs::File::create(&out_file).unwrap())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let status = if calibrating {
            let status = child.wait().unwrap();
            duration[slot] = started.elapsed();
            status
        } else {
            let budget = duration[slot].as_micros().max(1) as u64;
            let delay = Duration::from_micros(rig.rng.below(budget));
            std::thread::sleep(delay.saturating_sub(started.elapsed()));
            // The whole group: sh and the tokendesk process it runs.
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .status();
            let status = child.wait().unwrap();
            // SIGKILL waits for a process inside a system call (an fsync on a busy disk) to
            // return: the checks start once nothing of the group runs any more.
            wait_for_group_exit(child.id());
            status
        };
        let finished = status.success();
        if finished {
            // Operations slow down as the vault grows (rotation re-wraps every seed): kills
            // keep landing across the whole of an operation.
            duration[slot] = duration[slot].max(started.elapsed());
            tally[slot].completed += 1;
        } else {
            tally[slot].killed += 1;
        }
        let printed = std::fs::read_to_string(&out_file).unwrap_or_default();
        check(&rig, op, iteration, finished, &printed, &before);
    }
    for (op, t) in OPS.iter().zip(&tally) {
        eprintln!(
            "crash loop: {op:?}: {} killed, {} completed before the kill",
            t.killed, t.completed
        );
    }
    eprintln!("crash loop: calibrated durations {duration:?}");
    // The loop means nothing if no kill ever landed inside an operation.
    if iterations >= 2 * OPS.len() {
        assert!(
            tally.iter().map(|t| t.killed).sum::<usize>() > 0,
            "no kill landed before an operation ended: {tally:?}"
        );
    }
}

/// Waits until no process of group `pgid` is alive (zombies aside), at most 30 s.
fn wait_for_group_exit(pgid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let alive = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // pid (comm) state ppid pgrp …: comm may hold spaces, so split after its ')'.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
        });
        if !alive {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("processes of group {pgid} outlived SIGKILL by 30 s");
}

/// A fresh seed per run: the test harness, not product code, reads the clock.
#[allow(clippy::disallowed_methods)]
fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1
}

/// Every invariant after one (possibly killed) operation.
fn check(rig: &Rig, op: Op, iteration: usize, finished: bool, printed: &str, before: &Before) {
    let at = format!("iteration {iteration} ({op:?}, finished: {finished})");
    assert_eq!(rig.sql("PRAGMA integrity_check"), "ok", "{at}");
    let verify = rig.td(&["audit", "verify"]);
    assert!(
        verify.status.success() && stdout(&verify).contains("intact"),
        "{at}: audit verify: {}{}",
        stdout(&verify),
        stderr(&verify)
    );
    // States explained by history: no seed outside the states that keep one, and every record
    // that left `captured` has the audit entry of the move that got it there.
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM records WHERE (sealed_seed IS NULL) <> \
             (state IN ('purged', 'cancelled', 'lost'))"
        ),
        0,
        "{at}: a seed kept or lost against the record's state"
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM records r WHERE state <> 'captured' AND NOT EXISTS \
             (SELECT 1 FROM audit a WHERE a.record_id = r.id AND a.action <> 'capture')"
        ),
        0,
        "{at}: a record moved without an audit entry"
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM records r WHERE NOT EXISTS \
             (SELECT 1 FROM audit a WHERE a.record_id = r.id AND a.action = 'capture')"
        ),
        0,
        "{at}: a record without its capture entry"
    );
    match op {
        Op::Import => {
            let n = rig.count(&format!(
                "SELECT COUNT(*) FROM records WHERE upn LIKE 'imp{iteration}-%'"
            ));
            assert!(
                n == 0 || n == IMPORT_ROWS as u64,
                "{at}: a partial import: {n} of {IMPORT_ROWS} rows"
            );
            if finished {
                assert_eq!(n, IMPORT_ROWS as u64, "{at}");
            }
        }
        Op::Rotate => {
            // The vault opens (an interrupted rotation's staged key is recovered) and the base
            // seeds still give the right codes (three of them: each check is two processes).
            for u in [0, BASE_USERS / 2, BASE_USERS - 1] {
                let upn = format!("base{u}@contoso.com");
                let out = rig.ok(&[
                    "code",
                    &upn,
                    "--ticket",
                    "CHECK",
                    "--verified",
                    "call-back",
                    "--future",
                    "1",
                ]);
                let expected = stdout(
                    &tokendesk()
                        .args(["otp", &secret_for(u as u64)])
                        .output()
                        .unwrap(),
                );
                assert!(out.contains(expected.trim()), "{at}: {upn}: {out}");
            }
        }
        Op::Purge => {
            for k in 0..3 {
                let state = rig.sql(&format!(
                    "SELECT state FROM records WHERE upn = 'del{iteration}-{k}@contoso.com'"
                ));
                assert!(state == "delivered" || state == "purged", "{at}: {state}");
            }
        }
        Op::Backup => {
            let file = rig.root.join(format!("backup-{iteration}.tdb"));
            if finished {
                assert!(file.exists(), "{at}: no backup file");
            }
            if file.exists() {
                restore_elsewhere(rig, &file, &at);
            }
        }
        Op::Reveals => {
            // Audit first: a code reaches the screen only after its reveal committed, so every
            // code a killed sequence printed has its entry (a kill may also land between the
            // commit and the printing: more entries than codes is fine, fewer is not).
            let codes = printed
                .lines()
                .filter(|l| l.contains(" valid ") && l.chars().take(6).all(|c| c.is_ascii_digit()))
                .count() as u64;
            let audited =
                rig.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal'") - before.reveals;
            assert!(
                audited >= codes,
                "{at}: {codes} code(s) printed, {audited} reveal(s) audited"
            );
            if finished {
                assert_eq!((codes, audited), (6, 6), "{at}");
            }
        }
        Op::Export => check_export(rig, iteration, finished, before, &at),
    }
}

/// Audit first: an export writes seeds only after every one of its `export` entries committed,
/// so a file it left, complete under its name or `.partial`, holds seeds only if all of them are
/// audited; under its name, the file is complete.
fn check_export(rig: &Rig, iteration: usize, finished: bool, before: &Before, at: &str) {
    let audited = rig.count("SELECT COUNT(*) FROM audit WHERE action = 'export'") - before.exports;
    let seeds = rig.count("SELECT COUNT(*) FROM records WHERE sealed_seed IS NOT NULL");
    assert!(
        audited == 0 || audited == seeds,
        "{at}: {audited} of {seeds} exports audited"
    );
    let file = rig.root.join(format!("export-{iteration}.csv"));
    let partial = rig.root.join(format!("export-{iteration}.csv.partial"));
    let lines = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains('@'))
            .count() as u64
    };
    if partial.exists() {
        let n = lines(&partial);
        assert!(
            n == 0 || audited == seeds,
            "{at}: {n} seed(s) in the partial file, {audited} audited"
        );
    }
    if finished {
        assert!(file.exists() && !partial.exists(), "{at}: not published");
    }
    if file.exists() {
        assert_eq!(
            (lines(&file), audited),
            (seeds, seeds),
            "{at}: an incomplete export file"
        );
    }
}

/// A backup left under its final name restores: into a copy of the vault's folder (key file
/// included), where `restore` checks the checksum, the key and the audit chain.
fn restore_elsewhere(rig: &Rig, file: &Path, at: &str) {
    let copy = rig.root.join("restore-check");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(rig.data.join("master.key"), copy.join("master.key")).unwrap();
    let o = tokendesk_process(&copy)
        .arg("restore")
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{at}: restore: {}", stderr(&o));
    let v = tokendesk_process(&copy)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(stdout(&v).contains("intact"), "{at}: {}", stderr(&v));
}
