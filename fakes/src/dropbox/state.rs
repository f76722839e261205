//! Everything the fake remembers: users and their files, access and refresh tokens,
//! registered clients and pending authorization codes, and the faults a test injected.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::http::{header, HeaderMap};

use super::{
    tree::Tree,
    wire::{self, Failure},
};

/// Why the fake answers 429 (`RateLimitReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    /// `too_many_requests`: the app's rate limit.
    TooManyRequests,
    /// `too_many_write_operations`: namespace lock contention.
    TooManyWriteOperations,
}

impl RateLimit {
    fn tag(self) -> &'static str {
        match self {
            RateLimit::TooManyRequests => "too_many_requests",
            RateLimit::TooManyWriteOperations => "too_many_write_operations",
        }
    }
}

/// A Dropbox user.
#[derive(Debug)]
pub struct User {
    /// `dbid:…`
    pub account_id: String,
    /// E-mail address.
    pub email: String,
    /// Given name.
    pub given_name: String,
    /// Surname.
    pub surname: String,
    /// Their files.
    pub tree: Tree,
}

#[derive(Debug)]
pub struct AccessToken {
    pub account_id: String,
    pub expires: Option<Instant>,
}

#[derive(Debug)]
pub struct RefreshToken {
    pub account_id: String,
    pub client_id: String,
    /// Issued to a PKCE flow: the client secret is not needed to use it.
    pub public: bool,
}

#[derive(Debug)]
pub struct Code {
    pub client_id: String,
    pub account_id: String,
    pub redirect_uri: Option<String>,
    pub challenge: Option<(String, String)>,
    pub offline: bool,
    pub issued: Instant,
}

/// How long an authorization code can be exchanged.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// The fake's memory, behind one lock.
#[derive(Debug)]
pub struct Inner {
    pub users: HashMap<String, User>,
    pub default_user: String,
    pub authorizing_user: String,
    pub tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub clients: HashMap<String, String>,
    pub codes: HashMap<String, Code>,
    pub deny_next: bool,
    pub token_lifetime: Duration,
    pub throttle: Option<(u32, RateLimit, u64)>,
    pub write_contention: u32,
    pub page_limit: usize,
    pub epoch: u64,
    pub calls: HashMap<String, usize>,
    pub shares: super::sharing::Shares,
    pub team: super::team::Team,
}

/// State shared by the handlers.
#[derive(Debug)]
pub struct Shared {
    inner: Mutex<Inner>,
}

/// A random token-like string.
pub fn random(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Shared {
    /// A fake with one user, `franz@example.com`.
    pub fn new() -> Self {
        let mut inner = Inner {
            users: HashMap::new(),
            default_user: String::new(),
            authorizing_user: String::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            clients: HashMap::new(),
            codes: HashMap::new(),
            deny_next: false,
            token_lifetime: Duration::from_secs(4 * 3600),
            throttle: None,
            write_contention: 0,
            page_limit: 2000,
            epoch: 0,
            calls: HashMap::new(),
            shares: Default::default(),
            team: Default::default(),
        };
        let id = inner.add_user("franz@example.com", "Franz", "Ferdinand");
        inner.default_user = id.clone();
        inner.authorizing_user = id;
        Self {
            inner: Mutex::new(inner),
        }
    }

    /// The locked state.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an API call: counts it, checks the bearer token (and a team admin's
    /// `Dropbox-API-Select-User`, which makes the call the named member's), then applies
    /// an injected rate limit. Returns the caller's account id.
    pub fn begin(&self, route: &str, headers: &HeaderMap) -> Result<String, Failure> {
        let mut inner = self.lock();
        *inner.calls.entry(route.to_string()).or_default() += 1;
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                Failure::bad_input(
                    route,
                    "Must provide HTTP header \"Authorization\" or URL parameter \"authorization\".",
                )
            })?;
        let account = match inner.tokens.get(token.trim()) {
            None => return Err(Failure::auth("invalid_access_token")),
            Some(t) if t.expires.is_some_and(|e| e <= Instant::now()) => {
                return Err(Failure::auth("expired_access_token"))
            }
            Some(t) => t.account_id.clone(),
        };
        let account = match headers.get("dropbox-api-select-user") {
            None => account,
            Some(selected) => {
                let selected = selected.to_str().unwrap_or_default();
                match inner.team.member_of(&account) {
                    Some(m) if m.admin => {}
                    _ => {
                        return Err(Failure::bad_input(
                            route,
                            "Unexpected select user header. Your app does not have \
                             permission to use this feature.",
                        ))
                    }
                }
                match inner.team.member(selected) {
                    Some(member) => member.account_id.clone(),
                    None => return Err(Failure::auth("invalid_select_user")),
                }
            }
        };
        if let Some((left, reason, secs)) = inner.throttle.as_mut() {
            let (reason, secs) = (*reason, *secs);
            *left -= 1;
            if *left == 0 {
                inner.throttle = None;
            }
            return Err(Failure::rate_limited(reason.tag(), secs));
        }
        Ok(account)
    }
}

impl Inner {
    /// True when this write call must answer `too_many_write_operations` (409).
    pub fn contended(&mut self) -> bool {
        if self.write_contention > 0 {
            self.write_contention -= 1;
            return true;
        }
        false
    }

    /// Adds a user; returns their account id.
    pub fn add_user(&mut self, email: &str, given_name: &str, surname: &str) -> String {
        let account_id = format!("dbid:{}", &random("")[..33]);
        self.users.insert(
            account_id.clone(),
            User {
                account_id: account_id.clone(),
                email: email.to_string(),
                given_name: given_name.to_string(),
                surname: surname.to_string(),
                tree: Tree::default(),
            },
        );
        account_id
    }

    /// A new access token for `account_id`, valid for the token lifetime.
    pub fn issue_token(&mut self, account_id: &str) -> String {
        let token = random("sl.");
        let expires = Some(Instant::now() + self.token_lifetime);
        self.tokens.insert(
            token.clone(),
            AccessToken {
                account_id: account_id.to_string(),
                expires,
            },
        );
        token
    }

    /// The user's files.
    pub fn tree(&mut self, account_id: &str) -> &mut Tree {
        &mut self
            .users
            .get_mut(account_id)
            .expect("tokens belong to known users")
            .tree
    }

    /// The token answer of a grant (`expires_in` in seconds).
    pub fn token_answer(&mut self, account_id: &str) -> serde_json::Value {
        let access = self.issue_token(account_id);
        serde_json::json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.token_lifetime.as_secs(),
        })
    }
}

/// `FullAccount` of a user.
pub fn full_account(user: &User) -> serde_json::Value {
    let display = format!("{} {}", user.given_name, user.surname);
    let initials: String = [&user.given_name, &user.surname]
        .iter()
        .filter_map(|n| n.chars().next())
        .collect();
    serde_json::json!({
        "account_id": user.account_id,
        "name": {
            "given_name": user.given_name,
            "surname": user.surname,
            "familiar_name": user.given_name,
            "display_name": display,
            "abbreviated_name": initials,
        },
        "email": user.email,
        "email_verified": true,
        "disabled": false,
        "country": "US",
        "locale": "en",
        "referral_link": "https://db.tt/fake",
        "is_paired": false,
        "account_type": wire::tag("basic"),
        "root_info": {
            ".tag": "user",
            "root_namespace_id": "3235641",
            "home_namespace_id": "3235641",
        },
    })
}
