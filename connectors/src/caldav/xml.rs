//! WebDAV `multistatus` answers (RFC 4918 §13), read with quick-xml: each response's
//! `href` and the properties found (`200` propstats), by local name. Namespaces are not
//! told apart: the DAV, CalDAV and CalendarServer properties asked for have distinct
//! local names.

use std::collections::HashMap;

use cloudbridge_shared::ApiError;
use quick_xml::{events::Event, Reader};

/// One property's value: its text, the `href`s inside it and its child elements' local
/// names (a `resourcetype`'s `calendar`, a `supported-calendar-component-set`'s `comp`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Prop {
    /// The text inside it (trimmed, `href` text excluded).
    pub text: String,
    /// The `href` elements inside it.
    pub hrefs: Vec<String>,
    /// The local names of the elements directly inside it.
    pub children: Vec<String>,
    /// The `name` attributes of `comp` elements inside it.
    pub comps: Vec<String>,
}

/// One `response` of a multistatus.
#[derive(Debug, Default, Clone)]
pub struct Response {
    /// The resource's `href` (as the server wrote it: a path, percent-encoded).
    pub href: String,
    /// The properties the server found, by local name.
    pub props: HashMap<String, Prop>,
    /// The response's own `status` (no propstat: a REPORT's missing member).
    pub status: Option<u16>,
}

impl Response {
    /// The text of property `name`, when found and not empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.props
            .get(name)
            .map(|p| p.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// The first `href` inside property `name`.
    pub fn href_in(&self, name: &str) -> Option<&str> {
        self.props.get(name)?.hrefs.first().map(String::as_str)
    }
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_string()
}

fn malformed(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        502,
        "bad_gateway",
        format!("The CalDAV server sent a malformed answer: {e}"),
    )
}

/// Reads a `multistatus` body.
pub fn multistatus(body: &str) -> Result<Vec<Response>, ApiError> {
    let mut reader = Reader::from_str(body);
    let mut parser = Parser::default();
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::Start(e) => {
                let comp = comp_name(&e);
                parser.start(local(e.name().as_ref()), comp);
            }
            Event::Empty(e) => {
                let comp = comp_name(&e);
                let name = local(e.name().as_ref());
                parser.start(name.clone(), comp);
                parser.end();
            }
            Event::End(_) => parser.end(),
            // Entity references arrive apart (below), so the text is plain.
            Event::Text(t) => parser.text(&t),
            Event::CData(t) => parser.text(&t),
            Event::GeneralRef(r) => {
                // `&amp;` and friends, and character references, arrive apart from the text.
                let name: &str = &r;
                let text = match name {
                    "amp" => "&".to_string(),
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    _ => r
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                        .unwrap_or_default(),
                };
                parser.text(&text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(parser.out)
}

/// The `name` attribute of an element (CalDAV's `comp`).
fn comp_name(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| local(a.key.as_ref()) == "name")
        .map(|a| a.value.into_owned())
}

/// The reading of a multistatus, element by element.
#[derive(Default)]
struct Parser {
    out: Vec<Response>,
    /// Local names from the root down to the current element.
    stack: Vec<String>,
    current: Option<Response>,
    /// The properties of the propstat being read.
    found: HashMap<String, Prop>,
    /// The propstat's status (200 unless it says otherwise).
    status: Option<u16>,
    /// The property being read (an element directly inside `prop`), at its depth.
    prop: Option<(usize, String, Prop)>,
}

impl Parser {
    fn start(&mut self, name: String, comp: Option<String>) {
        let depth = self.stack.len();
        let parent = self.stack.last().map(String::as_str);
        match (parent, name.as_str()) {
            (_, "response") if self.prop.is_none() => self.current = Some(Response::default()),
            (_, "propstat") if self.prop.is_none() => {
                self.found.clear();
                self.status = None;
            }
            (Some("prop"), _) if self.prop.is_none() => {
                self.prop = Some((depth, name.clone(), Prop::default()))
            }
            _ => {}
        }
        if let Some((at, _, value)) = self.prop.as_mut() {
            if depth == *at + 1 {
                value.children.push(name.clone());
            }
            if name == "comp" {
                value.comps.extend(comp);
            }
            if name == "href" {
                value.hrefs.push(String::new());
            }
        }
        self.stack.push(name);
    }

    fn text(&mut self, text: &str) {
        let Some(name) = self.stack.last() else {
            return;
        };
        if let Some((_, _, value)) = self.prop.as_mut() {
            if name == "href" {
                if let Some(last) = value.hrefs.last_mut() {
                    last.push_str(text);
                }
            } else {
                value.text.push_str(text);
            }
            return;
        }
        let Some(current) = self.current.as_mut() else {
            return;
        };
        match name.as_str() {
            "href" => current.href.push_str(text),
            "status" => {
                // `HTTP/1.1 200 OK`
                let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok());
                if self.stack.iter().any(|n| n == "propstat") {
                    self.status = code;
                } else {
                    current.status = code;
                }
            }
            _ => {}
        }
    }

    fn end(&mut self) {
        let depth = self.stack.len().saturating_sub(1);
        let name = self.stack.pop().unwrap_or_default();
        if let Some((at, _, _)) = &self.prop {
            if *at == depth {
                let (_, prop_name, mut value) = self.prop.take().unwrap_or_default();
                value.text = value.text.trim().to_string();
                for href in &mut value.hrefs {
                    *href = href.trim().to_string();
                }
                self.found.insert(prop_name, value);
            }
            return;
        }
        match name.as_str() {
            "propstat" => {
                if self.status.is_none_or(|s| (200..300).contains(&s)) {
                    if let Some(current) = self.current.as_mut() {
                        current.props.extend(self.found.drain());
                    }
                }
                self.found.clear();
            }
            "response" => {
                if let Some(mut done) = self.current.take() {
                    done.href = done.href.trim().to_string();
                    self.out.push(done);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hrefs_properties_and_statuses() {
        let body = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <response>
    <href>/cal/work%20%26%20life/</href>
    <propstat>
      <prop>
        <resourcetype><collection/><C:calendar/></resourcetype>
        <displayname>Work &amp; life</displayname>
        <current-user-principal><href>/cal/</href></current-user-principal>
        <C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set>
      </prop>
      <status>HTTP/1.1 200 OK</status>
    </propstat>
    <propstat>
      <prop><C:calendar-description/></prop>
      <status>HTTP/1.1 404 Not Found</status>
    </propstat>
  </response>
  <response><href>/cal/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response>
</multistatus>"#;
        let got = multistatus(body).unwrap();
        assert_eq!(got.len(), 2);
        let first = &got[0];
        assert_eq!(first.href, "/cal/work%20%26%20life/");
        assert_eq!(first.text("displayname"), Some("Work & life"));
        assert_eq!(first.href_in("current-user-principal"), Some("/cal/"));
        assert_eq!(
            first.props["resourcetype"].children,
            ["collection", "calendar"]
        );
        assert_eq!(
            first.props["supported-calendar-component-set"].comps,
            ["VEVENT", "VTODO"]
        );
        assert!(!first.props.contains_key("calendar-description"));
        assert_eq!(got[1].status, Some(404));
    }

    #[test]
    fn refuses_what_is_not_xml() {
        assert!(multistatus("<multistatus><response></multistatus>").is_err());
    }
}
