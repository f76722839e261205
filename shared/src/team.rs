//! The Team API of admin accounts, in Kloudless v1's shapes (`/team/users`,
//! `/team/groups` and what hangs below them): the people of an organisation
//! ([`TeamUser`]), its groups ([`TeamGroup`]), what a caller asks for ([`Query`]) and a
//! worker's answer ([`Answer`]).
//!
//! Lists come in the service's own paging: an [`Answer`] list carries the service's
//! cursor of the next page, which the API tier seals into `next_page`.

use serde::{Deserialize, Serialize};

use crate::ApiError;

/// Longest id of a user or a group taken from a caller (the services' ids are GUIDs,
/// numbers, `dbmid:…` strings or e-mail addresses).
const MAX_ID: usize = 256;

/// A person of the organisation (wire: `{id, name, email, role, …}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamUser {
    /// The service's id of the user: what `X-Kloudless-As-User` takes.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Primary e-mail address.
    pub email: Option<String>,
    /// In the organisation: `admin` or `member`; in a group's member list: the role in
    /// that group (`owner`, `manager`, `member`), where the service tells one.
    pub role: Option<String>,
    /// When the user was made, where the service tells it.
    #[serde(default)]
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    /// When the user last changed, where the service tells it.
    #[serde(default)]
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A group of the organisation (wire: `{id, name, email, role, …}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamGroup {
    /// The service's id of the group.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its e-mail address, where groups have one (Google, Microsoft 365).
    pub email: Option<String>,
    /// In a user's memberships: the user's role in the group, where the service tells
    /// one.
    pub role: Option<String>,
}

/// A checked id of a user or a group named by a caller: non-empty, at most 256
/// characters, no control characters or `/`, `?`, `#` (ids go into service URLs, where
/// each connector encodes them).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MemberId(String);

impl MemberId {
    /// Parses a caller's id (`what` names it in the refusal).
    pub fn parse(raw: &str, what: &str) -> Result<Self, ApiError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_ID
            && !raw
                .chars()
                .any(|c| c.is_control() || matches!(c, '/' | '?' | '#' | '\\'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(ApiError::invalid_parameters(format!(
                "`{what}` must be an id of the team (1 to {MAX_ID} characters, no `/`)."
            )))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MemberId {
    type Error = ApiError;
    fn try_from(s: String) -> Result<Self, ApiError> {
        MemberId::parse(&s, "id")
    }
}

impl From<MemberId> for String {
    fn from(id: MemberId) -> String {
        id.0
    }
}

/// What a Team API request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "of", rename_all = "snake_case")]
pub enum Query {
    /// `GET /team/users`.
    Users,
    /// `GET /team/users/{id}`.
    User {
        /// The user.
        user: MemberId,
    },
    /// `GET /team/users/{id}/memberships`: the user's groups.
    Memberships {
        /// The user.
        user: MemberId,
    },
    /// `GET /team/groups`.
    Groups,
    /// `GET /team/groups/{id}`.
    Group {
        /// The group.
        group: MemberId,
    },
    /// `GET /team/groups/{id}/members`.
    Members {
        /// The group.
        group: MemberId,
    },
}

impl Query {
    /// True for the queries answered by a list.
    pub fn is_list(&self) -> bool {
        !matches!(self, Query::User { .. } | Query::Group { .. })
    }

    /// What a `next_page` token of this list is bound to (the route below the account).
    pub fn scope(&self) -> String {
        match self {
            Query::Users => "team/users".into(),
            Query::User { user } => format!("team/users/{}", user.as_str()),
            Query::Memberships { user } => format!("team/users/{}/memberships", user.as_str()),
            Query::Groups => "team/groups".into(),
            Query::Group { group } => format!("team/groups/{}", group.as_str()),
            Query::Members { group } => format!("team/groups/{}/members", group.as_str()),
        }
    }
}

/// A worker's answer to a [`Query`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// One user.
    User {
        /// The user.
        user: TeamUser,
    },
    /// One group.
    Group {
        /// The group.
        group: TeamGroup,
    },
    /// One page of users.
    Users {
        /// The page.
        users: Vec<TeamUser>,
        /// The service's cursor of the next page (`None` at the end).
        next: Option<String>,
    },
    /// One page of groups.
    Groups {
        /// The page.
        groups: Vec<TeamGroup>,
        /// The service's cursor of the next page (`None` at the end).
        next: Option<String>,
    },
}

impl Answer {
    /// The service's cursor of the next page of a list (`None` at its end, and for one
    /// user or group).
    pub fn next(&self) -> Option<&str> {
        match self {
            Answer::Users { next, .. } | Answer::Groups { next, .. } => next.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for good in ["dbmid:AAH4f99", "12345", "ann@example.com", "7c9e-6679"] {
            assert_eq!(MemberId::parse(good, "id").unwrap().as_str(), good);
        }
        let long = "x".repeat(MAX_ID + 1);
        for bad in ["", "a/b", "a?b", "a#b", "a\nb", "a\\b", long.as_str()] {
            assert_eq!(MemberId::parse(bad, "id").unwrap_err().status, 400, "{bad}");
        }
        // A job's id is checked again when it is read.
        assert!(serde_json::from_str::<MemberId>("\"a/b\"").is_err());
    }

    #[test]
    fn lists_are_scoped_by_their_route() {
        let user = MemberId::parse("u1", "id").unwrap();
        assert_eq!(Query::Users.scope(), "team/users");
        assert_eq!(
            Query::Memberships { user: user.clone() }.scope(),
            "team/users/u1/memberships"
        );
        assert!(Query::Groups.is_list() && !Query::User { user }.is_list());
    }
}
