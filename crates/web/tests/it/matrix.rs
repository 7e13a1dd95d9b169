//! The permission matrix, proved over real HTTP: every route of the router's own table, with
//! no credentials, with each role's API key, and (for pages) with each role's browser session.
//! A route added without thinking about access still appears here, because the table is what
//! the router is built from.

use tokendesk_vault::{Permission, Role, allows};
use tokendesk_web::routes::{RouteSpec, table};

use crate::TestApp;
use crate::app::{Browser, client, root};
use tokendesk_web::Access;

both_backends!(every_route_times_every_role);

/// The path with its parameters filled from real objects.
fn concrete(path: &str, record: &str) -> String {
    path.replace("{id}", record)
        .replace("{username}", "someone")
        .replace("{name}", "victim-key")
}

fn is_auth_failure(status: u16) -> bool {
    status == 401 || status == 403
}

/// The status of one call. A 403 `desk_only` (a key or a browser session on a route only a
/// desk's token may use, such as `POST /api/v1/burn-grants/fetch`) refuses the kind of
/// credential, not the role: it counts as 422 here, a refusal of this request by a route the
/// role may use.
async fn call(app: &TestApp, spec: &RouteSpec, path: &str, auth: Option<(&str, &str)>) -> u16 {
    let r = send(app, spec, path, auth).await;
    let status = r.status().as_u16();
    if status == 403 {
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        if body["code"] == "desk_only" {
            return 422;
        }
    }
    status
}

async fn send(
    app: &TestApp,
    spec: &RouteSpec,
    path: &str,
    auth: Option<(&str, &str)>,
) -> reqwest::Response {
    let url = app.at(path);
    let req = if spec.method == "GET" {
        client().get(url)
    } else {
        client().post(url)
    };
    let req = match auth {
        Some((name, value)) => req.header(name, value),
        None => req,
    };
    req.send().await.unwrap()
}

async fn every_route_times_every_role(app: TestApp) {
    let admin = app.admin().await;
    let record = app.capture("matrix@example.com").await;
    app.vault
        .staff()
        .add(
            &root(Permission::ManageStaff),
            "someone",
            "Someone",
            Role::Helpdesk,
        )
        .await
        .unwrap();
    app.vault
        .staff()
        .apikey_create(
            &root(Permission::ManageApiKeys),
            "victim-key",
            Role::Auditor,
        )
        .await
        .unwrap();
    let mut keys = Vec::new();
    let mut browsers: Vec<(Role, Browser)> = vec![(Role::Admin, admin)];
    for role in Role::ALL {
        let (_, token) = app
            .vault
            .staff()
            .apikey_create(
                &root(Permission::ManageApiKeys),
                &format!("key-{}", role.as_str()),
                role,
            )
            .await
            .unwrap();
        keys.push((role, format!("Bearer {}", token.expose())));
        if role != Role::Admin {
            browsers.push((role, app.staff(&format!("m-{}", role.as_str()), role).await));
        }
    }

    let routes = table(app.state.clone());
    assert!(
        routes.len() > 40,
        "the table lists every route: {}",
        routes.len()
    );
    let mut checked = 0;
    for spec in &routes {
        let path = concrete(spec.path, &record);
        let anonymous = call(&app, spec, &path, None).await;
        match spec.access {
            Access::Open | Access::Public => {
                assert!(
                    !is_auth_failure(anonymous),
                    "{} {path}: {anonymous}",
                    spec.method
                )
            }
            Access::Setup => assert_eq!(anonymous, 410, "{} {path} after setup", spec.method),
            _ => assert_eq!(anonymous, 401, "{} {path} without credentials", spec.method),
        }
        for (role, bearer) in &keys {
            let status = call(&app, spec, &path, Some(("authorization", bearer))).await;
            let expect_allowed = match spec.access {
                Access::Open | Access::Public | Access::AnyStaff => true,
                Access::Setup => false,
                Access::Partial | Access::Browser => false,
                Access::Needs(p) => allows(*role, p),
            };
            if expect_allowed {
                assert!(
                    !is_auth_failure(status),
                    "{} {path} as {role:?} key: {status}",
                    spec.method
                );
            } else if spec.access != Access::Setup {
                assert_eq!(status, 403, "{} {path} as {role:?} key", spec.method);
            }
            checked += 1;
        }
        if !spec.api {
            for (role, browser) in &browsers {
                // Sign-out would end the session the loop still needs.
                if spec.path == "/logout" {
                    continue;
                }
                let status = call(&app, spec, &path, Some(("cookie", &browser.cookie))).await;
                if let Access::Needs(p) = spec.access {
                    if allows(*role, p) {
                        assert!(
                            !is_auth_failure(status),
                            "{} {path} as {role:?}: {status}",
                            spec.method
                        );
                    } else {
                        assert_eq!(status, 403, "{} {path} as {role:?} session", spec.method);
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 200, "{checked} combinations checked");
    // Inside the transition route, cancelling needs its own permission: the README's role
    // table gives the helpdesk deliveries and losses, not cancelling (which destroys the seed).
    assert!(!allows(Role::Helpdesk, Permission::Cancel));
    for (role, bearer) in &keys {
        let id = app
            .capture(&format!("cancel-{}@example.com", role.as_str()))
            .await;
        let status = client()
            .post(app.at(&format!("/api/v1/records/{id}/transition")))
            .header("authorization", bearer)
            .json(&serde_json::json!({ "to": "cancelled" }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let expected = match role {
            Role::Admin | Role::Provisioner => 200,
            Role::Helpdesk | Role::Auditor => 403,
        };
        assert_eq!(status, expected, "{role:?} cancels a record");
        assert_eq!(expected == 200, allows(*role, Permission::Cancel));
    }
    // A revoked or made-up key is not a key.
    let status = client()
        .get(app.at("/api/v1/records"))
        .header("authorization", "Bearer tdk_not-a-real-key")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}
