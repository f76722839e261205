//! Sharing of files and folders, in Kloudless v1's shapes
//! (`/storage/{files|folders}/{id}/permissions`): who has access to an item
//! ([`Permission`], the wire object `{id, email, name, role, type}`) and the changes a
//! caller asks for ([`Change`], parsed from a `PUT` or `PATCH` body).
//!
//! Grantees are users and groups (by e-mail address), a whole domain, or anyone (a
//! link); roles go from `owner` down to `previewer`. Each connector says which of them
//! its service can express and maps them onto the service's own model.
//!
//! E-mail addresses are user input: they are checked here (an address, not a display
//! name or a domain literal) and lower-cased, and never logged.

use std::collections::HashSet;

use email_address::{EmailAddress, Options};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// Most grantees one change may name.
pub const MAX_GRANTS: usize = 100;
/// Longest accepted e-mail address (RFC 5321's path limit less its brackets).
const MAX_EMAIL: usize = 254;
/// Longest accepted domain name.
const MAX_DOMAIN: usize = 253;

/// What a grantee may do, from most to least.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Owns the item (reported only; ownership is not given through this API).
    Owner,
    /// May change the item (and, on most services, share it).
    Writer,
    /// May read and comment.
    Commenter,
    /// May read and download.
    Reader,
    /// May only preview (Box's `previewer`).
    Previewer,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Writer => "writer",
            Role::Commenter => "commenter",
            Role::Reader => "reader",
            Role::Previewer => "previewer",
        }
    }

    fn parse(raw: &str) -> Result<Self, ApiError> {
        Ok(match raw {
            "owner" => Role::Owner,
            "writer" => Role::Writer,
            "commenter" => Role::Commenter,
            "reader" => Role::Reader,
            "previewer" => Role::Previewer,
            _ => {
                return Err(ApiError::invalid_parameters(
                    "`role` must be one of owner, writer, commenter, reader, previewer.",
                ))
            }
        })
    }
}

/// Who a permission is for (the wire `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GranteeKind {
    /// One person.
    User,
    /// A group of people.
    Group,
    /// Everyone in a domain.
    Domain,
    /// Anyone with the link.
    Anyone,
}

impl GranteeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GranteeKind::User => "user",
            GranteeKind::Group => "group",
            GranteeKind::Domain => "domain",
            GranteeKind::Anyone => "anyone",
        }
    }
}

/// A checked, lower-cased e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address: `local@domain.tld`, nothing around it.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::invalid_parameters("`email` must be an e-mail address.");
        let options = Options {
            minimum_sub_domains: 2,
            allow_domain_literal: false,
            allow_display_text: false,
            allow_long_local_parts: false,
        };
        if raw.len() > MAX_EMAIL {
            return Err(bad());
        }
        let parsed = EmailAddress::parse_with_options(raw, options).map_err(|_| bad())?;
        // The crate takes some characters no service does in a domain.
        Domain::parse(parsed.domain()).map_err(|_| bad())?;
        Ok(Self(raw.to_lowercase()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = ApiError;
    fn try_from(s: String) -> Result<Self, ApiError> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A checked, lower-cased domain name (`example.com`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    /// Parses a DNS name of at least two labels (letters, digits, `-`, no leading or
    /// trailing `-`).
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::invalid_parameters("`domain` must be a domain name.");
        let labels: Vec<&str> = raw.split('.').collect();
        let label_ok = |l: &&str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if raw.len() > MAX_DOMAIN || labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(bad());
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Domain {
    type Error = ApiError;
    fn try_from(s: String) -> Result<Self, ApiError> {
        Domain::parse(&s)
    }
}

impl From<Domain> for String {
    fn from(d: Domain) -> String {
        d.0
    }
}

/// Who a caller shares with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Grantee {
    /// A person, by e-mail address.
    User {
        /// Their address.
        email: Email,
    },
    /// A group, by its e-mail address.
    Group {
        /// Its address.
        email: Email,
    },
    /// Everyone in a domain.
    Domain {
        /// The domain.
        domain: Domain,
    },
    /// Anyone with the link.
    Anyone,
}

impl Grantee {
    /// Its kind (the wire `type`).
    pub fn kind(&self) -> GranteeKind {
        match self {
            Grantee::User { .. } => GranteeKind::User,
            Grantee::Group { .. } => GranteeKind::Group,
            Grantee::Domain { .. } => GranteeKind::Domain,
            Grantee::Anyone => GranteeKind::Anyone,
        }
    }

    /// Its e-mail address (users and groups).
    pub fn email(&self) -> Option<&str> {
        match self {
            Grantee::User { email } | Grantee::Group { email } => Some(email.as_str()),
            _ => None,
        }
    }

    /// True when `permission` is for this grantee (same kind, same address or domain;
    /// addresses compare without case).
    pub fn matches(&self, permission: &Permission) -> bool {
        if permission.kind != self.kind() {
            return false;
        }
        let same =
            |a: &Option<String>, b: &str| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(b));
        match self {
            Grantee::User { email } | Grantee::Group { email } => {
                same(&permission.email, email.as_str())
            }
            Grantee::Domain { domain } => same(&permission.domain, domain.as_str()),
            Grantee::Anyone => true,
        }
    }
}

/// One grantee's access to an item, as its service reports it (and as the API answers
/// it: `{id, email, name, role, type}`, plus `domain` for a domain).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// The service's id of this permission (or of the grantee, where the service
    /// names permissions by who holds them).
    pub id: String,
    /// The grantee's e-mail address, where it has one.
    pub email: Option<String>,
    /// The grantee's display name, where the service tells it.
    pub name: Option<String>,
    /// What the grantee may do.
    pub role: Role,
    /// Who the grantee is.
    #[serde(rename = "type")]
    pub kind: GranteeKind,
    /// The domain of a `domain` permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Whom one entry of a change names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A grantee, whether or not it has access yet.
    Grantee(Grantee),
    /// An existing permission, by its id (entries read back from a `GET` that name
    /// their grantee no other way, such as a group known only by name).
    Id(String),
}

/// One entry of a change: `target` gets `role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    pub target: Target,
    /// What they may do.
    pub role: Role,
}

/// What a `PUT` (replace) or `PATCH` (add and update) asks of an item's sharing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Remove every permission the grants do not name (the owner's stays).
    pub replace: bool,
    /// Who gets what.
    pub grants: Vec<Grant>,
}

impl Change {
    /// Parses a request body: a list of `{type, role, email | domain | id}` (`type`
    /// defaults from the address given: `email` a user, `domain` a domain), the same
    /// list under `permissions` (a `GET` answer sent back), or, as the first Kloudless
    /// SDKs sent, an object mapping e-mail addresses to roles.
    pub fn parse(body: &Value, replace: bool) -> Result<Self, ApiError> {
        let grants: Vec<Grant> = match body {
            Value::Array(entries) => entries.iter().map(parse_entry).collect::<Result<_, _>>()?,
            Value::Object(map) => match map.get("permissions") {
                Some(Value::Array(entries)) => {
                    entries.iter().map(parse_entry).collect::<Result<_, _>>()?
                }
                Some(_) => {
                    return Err(ApiError::invalid_parameters(
                        "`permissions` must be a list.",
                    ))
                }
                None => map
                    .iter()
                    .map(|(email, role)| {
                        let role = role.as_str().ok_or_else(|| {
                            ApiError::invalid_parameters("Each role must be a string.")
                        })?;
                        Ok(Grant {
                            target: Target::Grantee(Grantee::User {
                                email: Email::parse(email)?,
                            }),
                            role: Role::parse(role)?,
                        })
                    })
                    .collect::<Result<_, ApiError>>()?,
            },
            _ => {
                return Err(ApiError::invalid_parameters(
                    "The body must be a list of permissions.",
                ))
            }
        };
        if grants.len() > MAX_GRANTS {
            return Err(ApiError::invalid_parameters(format!(
                "At most {MAX_GRANTS} permissions per request."
            )));
        }
        let mut seen = HashSet::new();
        if grants.iter().any(|g| !seen.insert(key(&g.target))) {
            return Err(ApiError::invalid_parameters(
                "A grantee is named more than once.",
            ));
        }
        Ok(Self { replace, grants })
    }
}

/// What makes two targets the same.
fn key(target: &Target) -> (GranteeKind, String) {
    match target {
        Target::Grantee(g @ (Grantee::User { .. } | Grantee::Group { .. })) => {
            (g.kind(), g.email().unwrap_or_default().to_string())
        }
        Target::Grantee(Grantee::Domain { domain }) => {
            (GranteeKind::Domain, domain.as_str().to_string())
        }
        Target::Grantee(Grantee::Anyone) => (GranteeKind::Anyone, String::new()),
        Target::Id(id) => (GranteeKind::User, format!("id:{id}")),
    }
}

fn parse_entry(entry: &Value) -> Result<Grant, ApiError> {
    let Value::Object(entry) = entry else {
        return Err(ApiError::invalid_parameters(
            "Each permission must be an object.",
        ));
    };
    let text = |field: &str| -> Result<Option<&str>, ApiError> {
        match entry.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::invalid_parameters(format!(
                "`{field}` must be a string."
            ))),
        }
    };
    let role = text("role")?
        .ok_or_else(|| ApiError::invalid_parameters("Each permission needs a `role`."))?;
    let role = Role::parse(role)?;
    let (email, domain, id) = (text("email")?, text("domain")?, text("id")?);
    // The first Python SDK labels every permission it read `permission`.
    let kind = match text("type")? {
        None | Some("permission") => None,
        Some("user") => Some(GranteeKind::User),
        Some("group") => Some(GranteeKind::Group),
        Some("domain") => Some(GranteeKind::Domain),
        Some("anyone") => Some(GranteeKind::Anyone),
        Some(_) => {
            return Err(ApiError::invalid_parameters(
                "`type` must be one of user, group, domain, anyone.",
            ))
        }
    };
    let by_id = || {
        id.map(|id| Target::Id(id.to_string()))
            .ok_or_else(|| ApiError::invalid_parameters(missing(kind)))
    };
    let target = match (kind, email, domain) {
        (Some(GranteeKind::Anyone), _, _) => Target::Grantee(Grantee::Anyone),
        (Some(GranteeKind::User) | None, Some(email), _) => Target::Grantee(Grantee::User {
            email: Email::parse(email)?,
        }),
        (Some(GranteeKind::Group), Some(email), _) => Target::Grantee(Grantee::Group {
            email: Email::parse(email)?,
        }),
        (Some(GranteeKind::Domain) | None, _, Some(domain)) => Target::Grantee(Grantee::Domain {
            domain: Domain::parse(domain)?,
        }),
        _ => by_id()?,
    };
    Ok(Grant { target, role })
}

fn missing(kind: Option<GranteeKind>) -> &'static str {
    match kind {
        Some(GranteeKind::Domain) => "A `domain` permission needs a `domain`.",
        Some(GranteeKind::User | GranteeKind::Group) => {
            "A `user` or `group` permission needs an `email`."
        }
        _ => "Each permission needs an `email`, a `domain`, a `type` of `anyone`, or the `id` of an existing permission.",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(email: &str) -> Target {
        Target::Grantee(Grantee::User {
            email: Email::parse(email).unwrap(),
        })
    }

    #[test]
    fn lists_objects_and_legacy_maps_parse() {
        let list = json!([
            {"type": "user", "role": "reader", "email": "Ann@Example.com"},
            {"role": "writer", "email": "bob@example.com"},
            {"type": "group", "role": "commenter", "email": "team@example.com"},
            {"type": "domain", "role": "reader", "domain": "Example.org"},
            {"type": "anyone", "role": "reader"},
            {"type": "permission", "role": "owner", "id": "p1", "name": "Owner"},
        ]);
        let change = Change::parse(&list, true).unwrap();
        assert!(change.replace);
        assert_eq!(change.grants[0].target, user("ann@example.com"));
        assert_eq!(change.grants[1].role, Role::Writer);
        assert!(matches!(
            &change.grants[2].target,
            Target::Grantee(Grantee::Group { .. })
        ));
        assert!(matches!(
            &change.grants[3].target,
            Target::Grantee(Grantee::Domain { domain }) if domain.as_str() == "example.org"
        ));
        assert_eq!(change.grants[4].target, Target::Grantee(Grantee::Anyone));
        assert_eq!(change.grants[5].target, Target::Id("p1".into()));

        let wrapped = Change::parse(&json!({"permissions": list}), false).unwrap();
        assert_eq!(wrapped.grants.len(), 6);
        let legacy = Change::parse(&json!({"a@example.com": "reader"}), false).unwrap();
        assert_eq!(legacy.grants[0].target, user("a@example.com"));
        assert!(Change::parse(&json!([]), true).unwrap().grants.is_empty());
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            json!("text"),
            json!([{"role": "reader"}]),
            json!([{"email": "a@example.com"}]),
            json!([{"role": "boss", "email": "a@example.com"}]),
            json!([{"role": "reader", "email": "not an address"}]),
            json!([{"role": "reader", "email": "Ann <a@example.com>"}]),
            json!([{"role": "reader", "email": "a@[127.0.0.1]"}]),
            json!([{"role": "reader", "email": "a@localhost"}]),
            json!([{"role": "reader", "email": 7}]),
            json!([{"type": "robot", "role": "reader", "email": "a@example.com"}]),
            json!([{"type": "domain", "role": "reader", "domain": "-bad-.com"}]),
            json!([{"type": "domain", "role": "reader", "domain": "10.0.0.1"}]),
            json!([{"type": "domain", "role": "reader"}]),
            json!([{"type": "user", "role": "reader"}]),
            json!([{"role": "reader", "email": "a@example.com"}, {"role": "writer", "email": "A@example.com"}]),
            json!({"permissions": "x"}),
            json!({"a@example.com": 3}),
            json!([1]),
        ] {
            let e = Change::parse(&bad, false).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "invalid_parameters"),
                "{bad}"
            );
        }
        let many: Vec<Value> = (0..=MAX_GRANTS)
            .map(|i| json!({"role": "reader", "email": format!("u{i}@example.com")}))
            .collect();
        assert!(Change::parse(&Value::Array(many), true).is_err());
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn grantees_match_permissions_by_kind_and_address() {
        let p = Permission {
            id: "1".into(),
            email: Some("Ann@example.com".into()),
            name: None,
            role: Role::Reader,
            kind: GranteeKind::User,
            domain: None,
        };
        let ann = Grantee::User {
            email: Email::parse("ann@EXAMPLE.com").unwrap(),
        };
        assert!(ann.matches(&p));
        let group = Grantee::Group {
            email: Email::parse("ann@example.com").unwrap(),
        };
        assert!(!group.matches(&p));
        let wire = serde_json::to_value(&p).unwrap();
        assert_eq!(
            wire,
            json!({"id": "1", "email": "Ann@example.com", "name": null, "role": "reader", "type": "user"})
        );
    }
}
