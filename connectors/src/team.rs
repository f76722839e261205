//! The Team API on the services that have an organisation (Google Workspace through the
//! Directory API, Microsoft 365 through Graph, Dropbox Business teams, Box Enterprise):
//! what a connector provides ([`Team`]) and how a worker answers a [`Query`] with it
//! ([`answer`]), walking to a page asked for by number.
//!
//! Lists are read in the service's own paging: each call reads one page of about `limit`
//! entries and returns the service's cursor of the next one (Google's `pageToken`,
//! Graph's `@odata.nextLink`, Dropbox's `cursor`, Box's `marker` or offset), which the
//! API tier seals into `next_page`.

use async_trait::async_trait;
use cloudbridge_shared::{
    team::{Answer, Query, TeamGroup, TeamUser},
    ApiError,
};

/// One page of a team list, and the service's cursor of the next (`None` at the end).
#[derive(Clone, Debug)]
pub struct Listed<T> {
    /// The page.
    pub objects: Vec<T>,
    /// The service's cursor of the next page.
    pub next: Option<String>,
}

impl<T> Default for Listed<T> {
    /// An empty last page.
    fn default() -> Self {
        Self {
            objects: Vec::new(),
            next: None,
        }
    }
}

/// A service's organisation, read with an admin account's token.
#[async_trait]
pub trait Team: Send + Sync {
    /// One page of the organisation's users, from `cursor` (the first when `None`).
    async fn users(&self, cursor: Option<&str>, limit: u32) -> Result<Listed<TeamUser>, ApiError>;

    /// One user (404 when the organisation has none of this id).
    async fn user(&self, id: &str) -> Result<TeamUser, ApiError>;

    /// One page of the groups `user` belongs to (`role`: theirs in each, where told).
    async fn memberships(
        &self,
        user: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError>;

    /// One page of the organisation's groups.
    async fn groups(&self, cursor: Option<&str>, limit: u32)
        -> Result<Listed<TeamGroup>, ApiError>;

    /// One group (404 when the organisation has none of this id).
    async fn group(&self, id: &str) -> Result<TeamGroup, ApiError>;

    /// One page of the members of `group` (`role`: theirs in the group, where told).
    async fn members(
        &self,
        group: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamUser>, ApiError>;
}

/// Most pages a request for a page by number walks through.
pub const MAX_SKIP: u32 = 1000;

/// The answer to `query`: one user or group, or the page of a list that starts at
/// `cursor` after `skip` pages of `limit` entries (each a call to the service).
pub async fn answer(
    team: &dyn Team,
    query: &Query,
    cursor: Option<String>,
    skip: u32,
    limit: u32,
) -> Result<Answer, ApiError> {
    if skip > MAX_SKIP {
        return Err(ApiError::invalid_parameters(format!(
            "`page` may be a number up to {}; follow `next_page` beyond.",
            MAX_SKIP + 1
        )));
    }
    let mut cursor = cursor;
    for walked in 0..=skip {
        let last = walked == skip;
        let at = cursor.as_deref();
        let (answer, next) = match query {
            Query::User { user } => {
                return Ok(Answer::User {
                    user: team.user(user.as_str()).await?,
                })
            }
            Query::Group { group } => {
                return Ok(Answer::Group {
                    group: team.group(group.as_str()).await?,
                })
            }
            Query::Users => users(team.users(at, limit).await?),
            Query::Members { group } => users(team.members(group.as_str(), at, limit).await?),
            Query::Groups => groups(team.groups(at, limit).await?),
            Query::Memberships { user } => {
                groups(team.memberships(user.as_str(), at, limit).await?)
            }
        };
        if last {
            return Ok(answer);
        }
        match next {
            // Past the end: an empty page.
            None => return Ok(empty(query)),
            next => cursor = next,
        }
    }
    Ok(empty(query))
}

fn users(listed: Listed<TeamUser>) -> (Answer, Option<String>) {
    let next = listed.next.clone();
    (
        Answer::Users {
            users: listed.objects,
            next: listed.next,
        },
        next,
    )
}

fn groups(listed: Listed<TeamGroup>) -> (Answer, Option<String>) {
    let next = listed.next.clone();
    (
        Answer::Groups {
            groups: listed.objects,
            next: listed.next,
        },
        next,
    )
}

fn empty(query: &Query) -> Answer {
    match query {
        Query::Groups | Query::Memberships { .. } => Answer::Groups {
            groups: Vec::new(),
            next: None,
        },
        _ => Answer::Users {
            users: Vec::new(),
            next: None,
        },
    }
}

/// The refusal of a service without an organisation.
pub fn no_team() -> ApiError {
    ApiError::not_implemented(
        "This service has no team: the Team API serves admin accounts of Google Drive \
         (Google Workspace), OneDrive for Business (Microsoft 365), Dropbox (Business \
         teams) and Box (Enterprise).",
    )
}

/// The refusal of the Team API, and of `X-Kloudless-As-User`, for an account that is
/// not an admin account (Kloudless' own words).
pub fn not_admin() -> ApiError {
    ApiError::forbidden("Only administrators can perform this action.")
}

/// A Team API id in a URL path segment (percent-encoded).
pub(crate) fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use cloudbridge_shared::team::MemberId;

    use super::*;

    /// Users `u0`…`u{n}` in pages of `limit`, the cursor being the next index; counts
    /// its calls.
    struct Numbers {
        n: usize,
        calls: Mutex<u32>,
    }

    #[async_trait]
    impl Team for Numbers {
        async fn users(
            &self,
            cursor: Option<&str>,
            limit: u32,
        ) -> Result<Listed<TeamUser>, ApiError> {
            *self.calls.lock().unwrap() += 1;
            let from: usize = cursor.map_or(0, |c| c.parse().unwrap());
            let to = (from + limit as usize).min(self.n);
            Ok(Listed {
                objects: (from..to)
                    .map(|i| TeamUser {
                        id: format!("u{i}"),
                        name: None,
                        email: None,
                        role: None,
                        created: None,
                        modified: None,
                    })
                    .collect(),
                next: (to < self.n).then(|| to.to_string()),
            })
        }
        async fn user(&self, id: &str) -> Result<TeamUser, ApiError> {
            Err(ApiError::not_found(id.to_string()))
        }
        async fn memberships(
            &self,
            _: &str,
            _: Option<&str>,
            _: u32,
        ) -> Result<Listed<TeamGroup>, ApiError> {
            Ok(Listed::default())
        }
        async fn groups(&self, _: Option<&str>, _: u32) -> Result<Listed<TeamGroup>, ApiError> {
            Ok(Listed::default())
        }
        async fn group(&self, id: &str) -> Result<TeamGroup, ApiError> {
            Err(ApiError::not_found(id.to_string()))
        }
        async fn members(
            &self,
            _: &str,
            _: Option<&str>,
            _: u32,
        ) -> Result<Listed<TeamUser>, ApiError> {
            Ok(Listed::default())
        }
    }

    fn ids(answer: &Answer) -> Vec<String> {
        match answer {
            Answer::Users { users, .. } => users.iter().map(|u| u.id.clone()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn numbered_pages_walk_and_cursors_jump() {
        let team = Numbers {
            n: 5,
            calls: Mutex::new(0),
        };
        let first = answer(&team, &Query::Users, None, 0, 2).await.unwrap();
        assert_eq!(ids(&first), ["u0", "u1"]);
        assert_eq!(first.next(), Some("2"));
        let third = answer(&team, &Query::Users, None, 2, 2).await.unwrap();
        assert_eq!(ids(&third), ["u4"]);
        assert_eq!(third.next(), None);
        assert_eq!(*team.calls.lock().unwrap(), 4);
        let by_cursor = answer(&team, &Query::Users, Some("2".into()), 0, 2)
            .await
            .unwrap();
        assert_eq!(ids(&by_cursor), ["u2", "u3"]);
        let past = answer(&team, &Query::Users, None, 7, 2).await.unwrap();
        assert!(ids(&past).is_empty());
        assert_eq!(
            answer(&team, &Query::Users, None, MAX_SKIP + 1, 2)
                .await
                .unwrap_err()
                .status,
            400
        );
        let user = Query::User {
            user: MemberId::parse("x", "id").unwrap(),
        };
        assert_eq!(
            answer(&team, &user, None, 0, 2).await.unwrap_err().status,
            404
        );
    }

    #[test]
    fn ids_are_encoded_in_paths() {
        assert_eq!(segment("ann@example.com"), "ann%40example.com");
        assert_eq!(segment("a b"), "a%20b");
    }
}
