//! Issue 21: history and audit rows read as sentences, the raw detail one click away and in
//! the CSV; the action filter offers the actions that exist.

use crate::TestApp;

both_backends!(issue_21_audit_rows_read_as_sentences);

const SENTENCE: &str =
    "revealed the current and next code to a caller verified by call-back, ticket INC-1001";

async fn issue_21_audit_rows_read_as_sentences(app: TestApp) {
    let admin = app.admin().await;
    let id = app.capture("sentences@example.com").await;
    let r = app
        .post_form(
            &admin,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-1001"),
                ("method", "call-back"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);

    let page = app.get_text(&admin, "/audit").await;
    assert!(page.contains(SENTENCE), "{page}");
    // The raw detail is one click away, never the row's only text.
    assert!(
        page.contains("<details><summary>Raw detail</summary><code>{&#34;approval&#34;:null"),
        "{page}"
    );
    // The action filter is a list of the actions in the trail, not free text.
    assert!(
        page.contains("<select id=\"action\" name=\"action\">"),
        "{page}"
    );
    for present in ["reveal", "capture", "init", "setup.complete"] {
        assert!(
            page.contains(&format!("<option value=\"{present}\">")),
            "{present} offered"
        );
    }
    assert!(
        !page.contains("<option value=\"state.shipped\""),
        "only actions that exist"
    );
    let filtered = app.get_text(&admin, "/audit?action=reveal").await;
    assert!(
        filtered.contains("<option value=\"reveal\" selected>"),
        "{filtered}"
    );
    assert!(filtered.contains(SENTENCE));
    assert!(!filtered.contains("captured the seed"), "{filtered}");

    // The record's history: the same sentence, the action name over the raw detail.
    let page = app.get_text(&admin, &format!("/records/{id}")).await;
    assert!(page.contains(SENTENCE), "{page}");
    assert!(
        page.contains("<details><summary>reveal</summary>"),
        "{page}"
    );
    assert!(page.contains("captured the seed"), "{page}");

    // The CSV carries the sentence and the raw detail.
    let csv = app
        .get(&admin, "/audit.csv?action=reveal")
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "seq,time_utc,unix_secs,time_local,actor,action,subject,record_id,what,detail"
    );
    let row = lines.next().unwrap();
    assert!(row.contains(SENTENCE), "{row}");
    assert!(
        row.contains("\"\"steps\"\""),
        "the raw detail, quoted: {row}"
    );
}
