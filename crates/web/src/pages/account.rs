//! `/account`: a staff member's own preferences (the time zone the pages use; blank follows
//! the browser, whose zone `assets/app.js` sends in the `tz` cookie).

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query, State};
use serde::Deserialize;
use tokendesk_vault::Permission;

use super::{Nav, redirect, render};
use crate::AppState;
use crate::auth::{Auth, ZONE_COOKIE, cookie_value};
use crate::error::{PageResult, Problem};
use crate::i18n::{LANGS, Lang, Msg, Tr};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Option<Nav>,
    t: Tr,
    /// The language chosen here (blank: the browser's).
    chosen_language: String,
    /// The language the browser asks for, by name.
    browser_language: &'static str,
    /// Every language: tag and own name.
    languages: Vec<(&'static str, &'static str)>,
    saved: bool,
    /// The zone chosen here (blank: the browser's).
    chosen_zone: String,
    /// The zone the browser named, if any.
    browser_zone: String,
    /// The server's zone, used without either.
    server_zone: String,
    /// The zone pages use now.
    zone: String,
}

#[derive(Deserialize)]
pub(crate) struct ShowQuery {
    #[serde(default)]
    done: String,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    headers: axum::http::HeaderMap,
    Query(q): Query<ShowQuery>,
) -> PageResult {
    let me = state.vault().staff().get(&auth.name).await?;
    let browser_language = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Lang::En, Lang::from_accept_language)
        .name();
    Ok(render(&AccountPage {
        nav: Some(Nav::for_auth(&auth)),
        t: Tr(auth.lang),
        chosen_language: me.language.unwrap_or_default(),
        browser_language,
        languages: LANGS.iter().map(|l| (l.tag(), l.name())).collect(),
        saved: q.done == "saved",
        chosen_zone: me.time_zone.unwrap_or_default(),
        browser_zone: cookie_value(&headers, ZONE_COOKIE)
            .map(|z| z.to_string())
            .unwrap_or_default(),
        server_zone: state.zone().name().to_owned(),
        zone: auth.zone.name().to_owned(),
    }))
}

#[derive(Deserialize)]
pub(crate) struct PrefsForm {
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    language: String,
}

pub(crate) async fn save(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<PrefsForm>,
) -> PageResult {
    let zone = match form.time_zone.trim() {
        "" => None,
        z => Some(tokendesk_outbound::zone::check(z).map_err(|e| Problem::invalid(e.to_string()))?),
    };
    let language = match form.language.trim() {
        "" => None,
        tag => Some(Lang::parse(tag).ok_or_else(|| {
            let known = LANGS.map(Lang::tag).join(", ");
            Problem::invalid(format!("no pages in {tag:?}: choose one of {known}"))
                .say(Msg::new("no-pages-in").arg("tag", tag).arg("known", known))
        })?),
    };
    state
        .vault()
        .staff()
        .set_preferences(
            &auth.authorize(Permission::ViewRecords)?,
            zone.as_deref(),
            language.map(Lang::tag),
        )
        .await?;
    Ok(redirect("/account?done=saved"))
}
