use super::*;

type Table = (&'static str, Vec<String>, Vec<Vec<Val>>);

fn sample() -> Vec<Table> {
    vec![
        (
            "audit",
            vec!["seq".into(), "hash".into(), "note".into()],
            vec![
                vec![Val::Int(1), Val::Blob(vec![0, 255]), Val::Null],
                vec![
                    Val::Int(i64::MAX),
                    Val::Blob(vec![]),
                    Val::Text("a\n\"b\"".into()),
                ],
            ],
        ),
        ("empty", vec!["x".into()], vec![]),
        (
            "flags",
            vec!["on".into(), "ratio".into()],
            vec![vec![Val::Bool(true), Val::Float(0.5)]],
        ),
    ]
}

fn headers(tables: &[Table]) -> Vec<TableHeader<'_>> {
    tables
        .iter()
        .map(|(name, columns, rows)| TableHeader {
            name,
            columns,
            rows: rows.len(),
        })
        .collect()
}

fn encode(tables: &[Table]) -> Vec<u8> {
    let mut enc = Encoder::new(Vec::new());
    enc.header("sqlite", &[1, 2], &headers(tables)).unwrap();
    for row in tables.iter().flat_map(|t| &t.2) {
        enc.row(row).unwrap();
    }
    enc.checksum().unwrap();
    enc.out
}

fn checked(bytes: &[u8]) -> Result<Checked> {
    check(bytes, |e| read_error(std::path::Path::new("x"), &e))
}

/// A body edited by `edit`, with a checksum line that matches it.
fn resummed(bytes: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    let body_end = text.trim_end().rfind('\n').unwrap() + 1;
    let body = edit(&text[..body_end]);
    let sum = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(body.as_bytes()));
    format!("{body}sha256 {sum}\n").into_bytes()
}

fn read_all(backup: &CheckedBackup) -> Vec<Vec<Vec<Val>>> {
    backup
        .tables()
        .iter()
        .map(|t| {
            let mut rows = backup.rows(t).unwrap();
            let mut out = Vec::new();
            while let Some(row) = rows.next_row().unwrap() {
                out.push(row);
            }
            out
        })
        .collect()
}

#[test]
fn backup_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.tdb");
    let tables = sample();
    let mut file = BackupFile::create(&path).unwrap();
    file.header("sqlite", &[1, 2], &headers(&tables)).unwrap();
    for row in tables.iter().flat_map(|t| &t.2) {
        file.row(row).unwrap();
    }
    file.finish().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), encode(&tables));

    let back = CheckedBackup::open(&path).unwrap();
    assert_eq!(back.migrations(), [1, 2]);
    assert_eq!(back.backend(), "sqlite");
    assert_eq!(
        back.row_counts(),
        [
            ("audit".to_owned(), 2),
            ("empty".to_owned(), 0),
            ("flags".to_owned(), 1)
        ]
    );
    // Read in another order than the file's, as a restore does for foreign keys.
    let mut order: Vec<&TableIndex> = back.tables().iter().collect();
    order.reverse();
    for t in order {
        let (_, columns, rows) = tables.iter().find(|s| s.0 == t.name).unwrap();
        assert_eq!(&t.columns, columns);
        let mut reader = back.rows(t).unwrap();
        for row in rows {
            assert!(reader.next_row().unwrap().as_ref() == Some(row));
        }
        assert!(reader.next_row().unwrap().is_none());
    }
}

#[test]
fn damaged_truncated_or_newer_files_are_refused() {
    let bytes = encode(&sample());
    let mut flipped = bytes.clone();
    flipped[40] ^= 1;
    let err = checked(&flipped).err().unwrap().to_string();
    assert!(err.contains("checksum"), "{err}");
    let err = checked(&bytes[..bytes.len() / 2])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tokendesk backup"), "{err}");
    assert!(checked(b"").is_err());
    assert!(checked(b"SQLite format 3\0garbage").is_err());
    // A well-formed file of a newer version is named as such.
    let newer = resummed(&bytes, |body| {
        body.replacen("\"version\":1", "\"version\":2", 1)
    });
    let err = checked(&newer).err().unwrap().to_string();
    assert!(err.contains("version 2"), "{err}");
}

#[test]
fn issue_18_damage_near_the_end_or_rows_the_header_does_not_count_are_refused() {
    // Streaming the check must still read to the very end before it accepts a file.
    let bytes = encode(&sample());
    // The checksum line is 72 bytes; before it, the last row ends in `}]\n`.
    let last_row = bytes.len() - 75;
    for at in [last_row, bytes.len() - 2] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 4;
        let err = checked(&damaged).err().unwrap().to_string();
        assert!(err.contains("checksum"), "byte {at}: {err}");
    }
    let err = checked(&bytes[..bytes.len() - 1])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no checksum line"), "{err}");
    let fewer = resummed(&bytes, |body| {
        let lines: Vec<&str> = body.lines().collect();
        format!("{}\n", lines[..lines.len() - 1].join("\n"))
    });
    let err = checked(&fewer).err().unwrap().to_string();
    assert!(err.contains("fewer rows"), "{err}");
    let more = resummed(&bytes, |body| format!("{body}[true,0.5]\n"));
    let err = checked(&more).err().unwrap().to_string();
    assert!(err.contains("more rows"), "{err}");
    assert!(checked(&bytes).is_ok());
}

#[test]
fn issue_18_a_file_changed_after_its_check_is_refused_while_restoring() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.tdb");
    let bytes = encode(&sample());
    std::fs::write(&path, &bytes).unwrap();
    let backup = CheckedBackup::open(&path).unwrap();
    assert_eq!(read_all(&backup).len(), 3);
    // The same length, another value in the last row of the first table.
    let text = String::from_utf8(bytes).unwrap();
    std::fs::write(&path, text.replacen("a\\n\\\"b\\\"", "a\\n\\\"c\\\"", 1)).unwrap();
    let t = &backup.tables()[0];
    let mut rows = backup.rows(t).unwrap();
    assert!(rows.next_row().unwrap().is_some());
    let err = rows.next_row().err().unwrap().to_string();
    assert!(err.contains("changed"), "{err}");
    // A shorter file: the rows are missing.
    std::fs::write(&path, &text.as_bytes()[..100]).unwrap();
    let mut rows = backup.rows(t).unwrap();
    let err = (0..3)
        .find_map(|_| rows.next_row().err())
        .unwrap()
        .to_string();
    assert!(err.contains("changed"), "{err}");
}
