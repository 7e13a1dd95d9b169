//! The one message catalogue (Project Fluent: `locales/{en,de,fr}.ftl`, compiled in) for
//! everything a person reads: the pages, their errors and scripts' words, the audit sentences,
//! the message for the user and the e-mails (as `tokendesk_outbound::mail::Wording`). The
//! language of a page is the staff member's setting, else the browser's `Accept-Language`, else
//! English; what the user reads follows the record's language. The JSON API stays English. A key
//! missing in any language fails `tests::every_language_has_every_key`; a key unknown at render
//! time shows as `⟦key⟧`, which the page tests look for.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language the pages are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Lang {
    #[default]
    En,
    De,
    Fr,
}

/// Every language, in the order the settings page offers them.
pub(crate) const LANGS: [Lang; 3] = [Lang::En, Lang::De, Lang::Fr];

const SOURCES: [(Lang, &str); 3] = [
    (Lang::En, include_str!("../locales/en.ftl")),
    (Lang::De, include_str!("../locales/de.ftl")),
    (Lang::Fr, include_str!("../locales/fr.ftl")),
];

impl Lang {
    /// The language tag (`en`, `de`, `fr`).
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
        }
    }

    /// The language's own name (`Deutsch`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
            Lang::Fr => "Français",
        }
    }

    /// A tag such as `de`, `de-CH` or `FR`; `None` for a language without a catalogue.
    pub(crate) fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        LANGS.into_iter().find(|l| l.tag() == primary)
    }

    /// The best language of an `Accept-Language` header (by its `q` weights), or English.
    pub(crate) fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag)
                && q > 0.0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

struct Catalogue {
    bundles: Vec<(Lang, FluentBundle<FluentResource>)>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue {
    bundles: SOURCES
        .iter()
        .map(|(lang, source)| {
            let id = lang.tag().parse().unwrap_or_default();
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Plain text into HTML-escaping templates: no bidi isolation marks around values.
            bundle.set_use_isolating(false);
            // A syntax error shows up as missing keys (and fails the catalogue test).
            let resource = FluentResource::try_new((*source).to_owned()).unwrap_or_else(|(r, _)| r);
            if let Err(errors) = bundle.add_resource(resource) {
                tracing::error!(
                    lang = lang.tag(),
                    ?errors,
                    "message catalogue has duplicates"
                );
            }
            (*lang, bundle)
        })
        .collect(),
});

/// The message `key` in `lang` with `args`; `⟦key⟧` when the catalogue lacks it.
fn message(lang: Lang, key: &str, args: Option<&FluentArgs>) -> String {
    let Some((_, bundle)) = CATALOGUE.bundles.iter().find(|(l, _)| *l == lang) else {
        return format!("⟦{key}⟧");
    };
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return format!("⟦{key}⟧");
    };
    let mut errors = Vec::new();
    let text = bundle
        .format_pattern(pattern, args, &mut errors)
        .into_owned();
    if errors.is_empty() {
        text
    } else {
        format!("⟦{key}⟧")
    }
}

tokio::task_local! {
    /// The language of the request being answered (set by `auth::gate`), for what is rendered
    /// without an `Auth` at hand: the sign-in pages and error pages.
    static REQUEST_LANG: Lang;
}

/// Runs `fut` with `lang` as the request's language.
pub(crate) async fn scoped<F: std::future::Future>(lang: Lang, fut: F) -> F::Output {
    REQUEST_LANG.scope(lang, fut).await
}

/// The translator a page renders with: `{{ t.t("key") }}` in a template.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tr(pub Lang);

impl Tr {
    /// The request's language (English outside a request).
    pub(crate) fn current() -> Tr {
        Tr(REQUEST_LANG.try_with(|l| *l).unwrap_or_default())
    }

    /// Whether the catalogue has `key`.
    pub(crate) fn has(&self, key: &str) -> bool {
        CATALOGUE
            .bundles
            .iter()
            .any(|(l, b)| *l == self.0 && b.has_message(key))
    }

    /// A message with several arguments (numbers stay numbers, for plurals).
    pub(crate) fn ta(&self, key: &str, args: &[(&str, Arg)]) -> String {
        let mut fa = FluentArgs::new();
        for (name, value) in args {
            match value {
                Arg::S(s) => fa.set(*name, FluentValue::from(s.clone())),
                Arg::N(n) => fa.set(*name, FluentValue::from(*n)),
            }
        }
        message(self.0, key, Some(&fa))
    }

    /// The language tag, for `<html lang>`.
    pub(crate) fn tag(&self) -> &'static str {
        self.0.tag()
    }

    /// The language's own name (`Deutsch`).
    pub(crate) fn lang_name(&self) -> &'static str {
        self.0.name()
    }

    /// A record state's name (`state-shipped`).
    pub(crate) fn state(&self, state: &str) -> String {
        let key = format!("state-{state}");
        if self.has(&key) {
            message(self.0, &key, None)
        } else {
            state.to_owned()
        }
    }

    /// A role's name (`role-helpdesk`).
    pub(crate) fn role(&self, role: &str) -> String {
        let key = format!("role-{role}");
        if self.has(&key) {
            message(self.0, &key, None)
        } else {
            role.to_owned()
        }
    }

    /// A message without arguments.
    pub(crate) fn t(&self, key: &str) -> String {
        message(self.0, key, None)
    }

    /// A message with one argument (`{ $name }`).
    pub(crate) fn t1(&self, key: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value.to_string()));
        message(self.0, key, Some(&args))
    }

    /// A message with a number argument (plural forms select on it).
    pub(crate) fn tn(&self, key: &str, name: &str, value: impl std::borrow::Borrow<i64>) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(*value.borrow()));
        message(self.0, key, Some(&args))
    }
}

impl tokendesk_outbound::mail::Wording for Tr {
    fn tag(&self) -> &str {
        self.0.tag()
    }

    fn say(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut fa = FluentArgs::new();
        for (name, value) in args {
            fa.set(*name, FluentValue::from(*value));
        }
        message(self.0, key, Some(&fa))
    }
}

/// An argument of a message: text or a number.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    S(String),
    N(i64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::S(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::S(s)
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::S(s.clone())
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::N(n)
    }
}

impl From<usize> for Arg {
    fn from(n: usize) -> Self {
        Arg::N(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// A message chosen now and worded later, in the reader's language: a key and its arguments.
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub key: &'static str,
    pub args: Vec<(&'static str, Arg)>,
}

impl Msg {
    pub(crate) fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    pub(crate) fn arg(mut self, name: &'static str, value: impl Into<Arg>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    /// The message in `t`'s language.
    pub(crate) fn say(&self, t: Tr) -> String {
        t.ta(self.key, &self.args)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The message ids of an FTL source (lines `id = …` at the start of a line).
    fn keys(source: &str) -> BTreeSet<&str> {
        source
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim()))
            .collect()
    }

    #[test]
    fn every_language_has_every_key() {
        let (_, en) = SOURCES[0];
        let english = keys(en);
        assert!(
            english.len() > 50,
            "the catalogue is read: {}",
            english.len()
        );
        for (lang, source) in SOURCES {
            let these = keys(source);
            let missing: Vec<_> = english.difference(&these).collect();
            let extra: Vec<_> = these.difference(&english).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, not in English {extra:?}",
                lang.tag()
            );
            // Every message formats, given the variables its line names (`{ $days }`).
            for line in source.lines().filter(|l| l.contains(" = ")) {
                let Some((key, body)) = line.split_once(" = ") else {
                    continue;
                };
                let mut args = FluentArgs::new();
                for piece in body.split('$').skip(1) {
                    let name: String = piece
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    args.set(name, FluentValue::from(7));
                }
                let text = message(lang, key.trim(), Some(&args));
                assert!(
                    !text.starts_with('⟦'),
                    "{}: {key} does not format",
                    lang.tag()
                );
            }
        }
    }

    /// Every `t.t("…")`, `t.t1("…"` and `t.tn("…"` in the templates and the Rust sources names a
    /// key of the catalogue (so no converted page can render a raw key).
    #[test]
    fn every_key_used_exists() {
        let (_, en) = SOURCES[0];
        let english = keys(en);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = Vec::new();
        for dir in ["templates", "src", "src/pages"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if !path.is_file() || path.ends_with("i18n.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for call in [".t(\"", ".t1(\"", ".tn(\"", "Msg::new(\""] {
                    for piece in text.split(call).skip(1) {
                        if let Some((key, _)) = piece.split_once('"') {
                            used.push((path.display().to_string(), key.to_owned()));
                        }
                    }
                }
            }
        }
        assert!(used.len() > 30, "keys found in use: {}", used.len());
        let unknown: Vec<_> = used
            .iter()
            .filter(|(_, k)| !english.contains(k.as_str()))
            .collect();
        assert!(unknown.is_empty(), "keys not in the catalogue: {unknown:?}");
    }

    /// State names are looked up by a key built from the state (`state-shipped`).
    #[test]
    fn every_state_has_a_name() {
        for lang in LANGS {
            for s in tokendesk_vault::ALL_STATES {
                let key = format!("state-{}", s.as_str());
                assert!(!message(lang, &key, None).starts_with('⟦'), "{key}");
            }
        }
    }

    #[test]
    fn accept_language_picks_the_best_known_language() {
        assert_eq!(
            Lang::from_accept_language("de-CH,de;q=0.9,en;q=0.8"),
            Lang::De
        );
        assert_eq!(Lang::from_accept_language("nl,fr;q=0.7,en;q=0.5"), Lang::Fr);
        assert_eq!(Lang::from_accept_language("nl, it"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("fr;q=0, de;q=0.1"), Lang::De);
    }

    #[test]
    fn arguments_and_plurals() {
        assert_eq!(
            Tr(Lang::De).t1("zone-in-use", "zone", "Europe/Berlin"),
            "Zeiten auf allen Seiten in Europe/Berlin; UTC, wenn Sie darauf zeigen."
        );
        assert_eq!(Tr(Lang::En).t("no-such-key"), "⟦no-such-key⟧");
    }
}
