//! A small, hardened XML tree for PSKC: quick-xml events folded into elements with local names.
//! DTDs (and so external or custom entities, XXE and "billion laughs") are refused outright; only
//! the five predefined entities and character references are resolved; depth and element count
//! are capped.

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use zeroize::Zeroize;

/// Deepest nesting accepted (PSKC needs about 8).
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one document.
const MAX_ELEMENTS: usize = 4_000_000;

/// One element: local name (namespace prefix dropped), attributes by local name, children and
/// the concatenated, trimmed text. Text is wiped on drop (it may hold a plain seed).
#[derive(Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl std::fmt::Debug for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Element")
            .field("name", &self.name)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Element {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed text of a child, if present and not empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_owned()
}

/// Parses a whole document into its root element.
///
/// # Errors
/// A plain-language message (with the byte position) for malformed XML, a DTD, an unknown
/// entity, too deep nesting or too many elements.
pub(crate) fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let at = |r: &Reader<&[u8]>| r.buffer_position();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML near byte {}: {e}", at(&reader)))?;
        match event {
            Event::DocType(_) => {
                return Err(
                    "the file has a DTD (<!DOCTYPE>); PSKC files never need one and it is refused \
                     (entity expansion attacks)"
                        .into(),
                );
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "the document is too large or too deeply nested (over {MAX_ELEMENTS} \
                         elements or {MAX_DEPTH} levels)"
                    ));
                }
                let mut el = Element::default();
                el.name = local(start.name().as_ref());
                for attr in start.attributes() {
                    let attr =
                        attr.map_err(|e| format!("bad attribute near byte {}: {e}", at(&reader)))?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| {
                            format!("bad attribute value near byte {}: {e}", at(&reader))
                        })?;
                    el.attrs
                        .push((local(attr.key.as_ref()), value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| "an end tag without a start tag".to_owned())?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::CData(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                        .ok_or_else(|| "a bad character reference".to_owned())?
                } else {
                    let name = r.xml10_content();
                    match name.as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => {
                            return Err(format!(
                                "the entity &{other}; is not defined (only XML's five predefined \
                                 entities are accepted)"
                            ));
                        }
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element (truncated file?)".into());
    }
    root.ok_or_else(|| "the file holds no XML element".into())
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

/// Escapes text and attribute values for writing.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_local_names_and_entities() {
        let doc = r#"<?xml version="1.0"?><!-- c --><p:A xmlns:p="urn:x" p:k="v&amp;w"><B>x &lt; y&#65;</B><C/></p:A>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "A");
        assert_eq!(root.attr("k"), Some("v&w"));
        assert_eq!(root.child_text("B"), Some("x < yA"));
        assert!(root.child("C").is_some());
    }

    #[test]
    fn refuses_dtds_entities_and_junk() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert!(parse(laughs).unwrap_err().contains("DTD"));
        let xxe = r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert!(parse(xxe).unwrap_err().contains("DTD"));
        assert!(parse("<a>&x;</a>").unwrap_err().contains("&x;"));
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").unwrap_err().contains("truncated"));
        assert!(parse("").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).unwrap_err().contains("nested"));
    }

    #[test]
    fn escape_round_trips() {
        let text = r#"a&b<c>"d'"#;
        let doc = format!("<a v=\"{0}\">{0}</a>", escape(text));
        let root = parse(&doc).unwrap();
        assert_eq!(root.text, text);
        assert_eq!(root.attr("v"), Some(text));
    }
}
