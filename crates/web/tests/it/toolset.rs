//! The Toolset page: codes, conversions, QR, Entra CSV; headers; cross-origin refusal.

use super::*;
use crate::app::TestApp;

/// Fixed server time: RFC 6238's 1234567890, inside step 41152263 (valid 1234567890–1234567920).
const TOOLSET_NOW: i64 = 1_234_567_890;

/// The app at RFC time with a signed-in admin (the Toolset sits behind staff sign-in).
async fn serve() -> (std::net::SocketAddr, String, TestApp) {
    let app = TestApp::sqlite_at(TOOLSET_NOW).await;
    let admin = app.admin().await;
    // Signing in moved the clock for the second factor; put it back on the RFC second.
    app.clock.set(TOOLSET_NOW);
    (app.addr, admin.cookie.clone(), app)
}

const RFC_SHA1: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

async fn post(form: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    let (addr, cookie, _app) = serve().await;
    let r = client()
        .post(format!("http://{addr}/toolset"))
        .header("cookie", &cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn page_has_security_headers_and_is_never_cached() {
    let (addr, cookie, _app) = serve().await;
    let r = client()
        .get(format!("http://{addr}/toolset"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<form method=\"post\" action=\"/toolset\""),
        "seeds go in POST bodies"
    );
    assert!(!body.contains("<script>"), "no inline script under the CSP");
    let css = client()
        .get(format!("http://{addr}/assets/app.css"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[tokio::test]
async fn codes_around_now_with_windows() {
    let (status, headers, body) = post(&[
        ("action", "codes"),
        ("seed", RFC_SHA1),
        ("past", "1"),
        ("future", "1"),
    ])
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    // RFC 6238 at 1234567890 is 89005924 with 8 digits; 6 digits are its last six.
    assert!(body.contains(">005924<"), "{body}");
    assert!(body.contains("data-valid-from=\"1234567890\" data-valid-until=\"1234567920\""));
    assert!(body.contains("30 s left"));
    assert!(body.contains("23:31:30 – 23:32:00 UTC"));
    assert_eq!(body.matches("class=\"code\"").count(), 3);
}

#[tokio::test]
async fn otpauth_links_bring_their_parameters() {
    let uri = format!("otpauth://totp/x?secret={RFC_SHA1}&digits=8");
    let (status, _, body) = post(&[("action", "codes"), ("seed", &uri)]).await;
    assert_eq!(status, 200);
    assert!(body.contains(">89005924<"), "{body}");
    assert!(body.contains("SHA1, 8 digits, 30 s steps"));
}

#[tokio::test]
async fn wrong_qr_is_explained_and_nothing_else_is_shown() {
    let (status, _, body) = post(&[("action", "codes"), ("seed", "phonefactor://x")]).await;
    assert_eq!(status, 422);
    assert!(
        body.contains("I want to use a different authenticator app"),
        "{body}"
    );
    assert!(!body.contains("class=\"code\""));
}

#[tokio::test]
async fn new_seeds_are_random() {
    let (_, _, a) = post(&[("action", "new")]).await;
    let (_, _, b) = post(&[("action", "new")]).await;
    let seed = |body: &str| {
        let start = body.find("<p class=\"mono\">").unwrap() + 16;
        body[start..start + 32].to_owned()
    };
    assert_ne!(seed(&a), seed(&b));
    assert!(
        seed(&a)
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
    );
}

#[tokio::test]
async fn hex_and_base32_conversions() {
    let (_, _, body) = post(&[("action", "to_hex"), ("seed", RFC_SHA1)]).await;
    assert!(
        body.contains("3132333435363738393031323334353637383930"),
        "{body}"
    );
    let hex = "3132333435363738393031323334353637383930";
    let (_, _, body) = post(&[("action", "to_base32"), ("seed", hex)]).await;
    assert!(
        body.contains(&format!("<p class=\"mono\">{RFC_SHA1}</p>")),
        "{body}"
    );
}

#[tokio::test]
async fn qr_code_for_a_phone_burner() {
    let (status, _, body) = post(&[
        ("action", "qr"),
        ("seed", "2sk2 tsmk jp7k dbck"),
        ("issuer", "Contoso"),
        ("account", "alice@contoso.com"),
    ])
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("<svg"), "{body}");
    // Askama escapes '&' in text; undo that to read the link.
    let text = body.replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        text.contains(
            "otpauth://totp/Contoso:alice%40contoso.com?secret=2SK2TSMKJP7KDBCK&issuer=Contoso"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn entra_csv_line() {
    let form = [
        ("action", "entra"),
        ("seed", "2sk2tsmkjp7kdbck"),
        ("upn", "helga@contoso.com"),
        ("serial", "1234567"),
        ("manufacturer", "Token2"),
        ("model", "C302-i"),
        ("interval", "30"),
    ];
    let (status, _, body) = post(&form).await;
    assert_eq!(status, 200);
    assert!(body.contains(
        "upn,serial number,secret key,time interval,manufacturer,model\nhelga@contoso.com,1234567,2SK2TSMKJP7KDBCK,30,Token2,C302-i"
    ), "{body}");
    // Issue 13: a UPN that is no Entra user name is refused; a formula in free text is
    // refused; a comma in free text is quoted, so the columns stay where they are.
    let mut bad = form;
    bad[2] = ("upn", "=HYPERLINK(\"x\")");
    let (status, _, body) = post(&bad).await;
    assert_eq!(status, 422);
    assert!(body.contains("UPN"), "{body}");
    let mut bad = form;
    bad[4] = ("manufacturer", "=cmd()");
    let (status, _, body) = post(&bad).await;
    assert_eq!(status, 422);
    assert!(body.contains("formula"), "{body}");
    let mut comma = form;
    comma[4] = ("manufacturer", "Token2, Inc");
    let (status, _, body) = post(&comma).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("helga@contoso.com,1234567,2SK2TSMKJP7KDBCK,30,&#34;Token2, Inc&#34;,C302-i"),
        "{body}"
    );
}

#[tokio::test]
async fn cross_origin_posts_are_refused() {
    let (addr, cookie, _app) = serve().await;
    let r = client()
        .post(format!("http://{addr}/toolset"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("action", "codes"), ("seed", RFC_SHA1)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("class=\"code\""));
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let (addr, cookie, _app) = serve().await;
    let big = "A".repeat(tokendesk_web::MAX_BODY_BYTES + 1);
    let r = client()
        .post(format!("http://{addr}/toolset"))
        .header("cookie", &cookie)
        .form(&[("action", "codes"), ("seed", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = client()
        .post(format!("http://{addr}/toolset"))
        .header("cookie", &cookie)
        .form(&[("action", "explode")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}
