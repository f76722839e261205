//! Who is calling: `DeveloperKey` (management API), `APIKey` (any account of one
//! application) or `Bearer` (one account). Schemes are case-insensitive. Keys and tokens
//! are looked up by digest. An account of another application is "not found", never
//! "forbidden", so ids do not leak across tenants.

use axum::{
    extract::FromRequestParts,
    http::{request::Parts, HeaderMap},
};
use cloudbridge_shared::{
    db::{self, accounts::Account},
    secret::digest,
    ApiError,
};

use crate::AppState;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A developer (management API).
    Developer(i64),
    /// An application, through one of its API keys.
    Application(String),
    /// One account of an application, through a bearer token.
    Account {
        /// The account.
        account: i64,
        /// Its application.
        application: String,
    },
    /// Several accounts of one application, through comma-separated bearer tokens
    /// (`Bearer t1,t2`): a multi-account request.
    Accounts {
        /// The accounts, in the order of the tokens.
        accounts: Vec<i64>,
        /// Their application.
        application: String,
    },
}

/// Most accounts one multi-account request names (by ids or by bearer tokens).
pub const MAX_ACCOUNTS: usize = 20;

/// Splits `Authorization: <scheme> <credential>`.
fn credentials(headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(ApiError::authentication_required)?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("The Authorization header is not valid text."))?;
    let (scheme, credential) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("The Authorization header has no credential."))?;
    let credential = credential.trim();
    if credential.is_empty() {
        return Err(ApiError::unauthorized(
            "The Authorization header has no credential.",
        ));
    }
    Ok((scheme.to_ascii_lowercase(), credential.to_string()))
}

/// The digest of a request's `scheme credential`: what verified callers are cached by and
/// the per-credential rate limit counts. Computed once per request (the rate limit puts it
/// in the request's extensions for the extractor).
#[derive(Clone, Debug)]
pub struct CredentialKey(pub Vec<u8>);

impl CredentialKey {
    /// The key of the request's credential, if it has a well-formed `Authorization`.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        credentials(headers).ok().map(|(s, c)| Self::new(&s, &c))
    }

    fn new(scheme: &str, credential: &str) -> Self {
        Self(digest(&format!("{scheme} {credential}")))
    }

    /// The first 16 bytes of the digest: enough to tell credentials apart in a rate limit.
    pub fn short(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.0[..16]);
        out
    }
}

impl Caller {
    /// The application this caller acts for (none for developers).
    pub fn application(&self) -> Option<&str> {
        match self {
            Caller::Application(app)
            | Caller::Account {
                application: app, ..
            }
            | Caller::Accounts {
                application: app, ..
            } => Some(app),
            Caller::Developer(_) => None,
        }
    }

    async fn verify(state: &AppState, scheme: &str, credential: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::unauthorized("Invalid credentials.");
        match scheme {
            "developerkey" => db::developers::find_by_key(&state.db, credential)
                .await?
                .map(Caller::Developer)
                .ok_or_else(invalid),
            "apikey" => db::api_keys::find_application(&state.db, credential)
                .await?
                .map(Caller::Application)
                .ok_or_else(invalid),
            "bearer" if credential.contains(',') => Self::several(state, credential).await,
            "bearer" => db::bearer_tokens::find(&state.db, credential)
                .await?
                .map(|(account, application)| Caller::Account {
                    account,
                    application,
                })
                .ok_or_else(|| ApiError::new(401, "invalid_token", "Invalid or revoked token.")),
            _ => Err(ApiError::unauthorized(
                "Unsupported Authorization scheme; use APIKey, Bearer or DeveloperKey.",
            )),
        }
    }
}

impl Caller {
    /// The caller of `Bearer t1,t2,…`: every token valid, all of one application.
    async fn several(state: &AppState, credential: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::new(401, "invalid_token", "Invalid or revoked token.");
        let tokens: Vec<&str> = credential.split(',').map(str::trim).collect();
        if tokens.len() > MAX_ACCOUNTS {
            return Err(ApiError::unauthorized(format!(
                "At most {MAX_ACCOUNTS} bearer tokens may be given at once."
            )));
        }
        let mut accounts = Vec::with_capacity(tokens.len());
        let mut application: Option<String> = None;
        for token in tokens {
            if token.is_empty() {
                return Err(invalid());
            }
            let (account, app) = db::bearer_tokens::find(&state.db, token)
                .await?
                .ok_or_else(invalid)?;
            match &application {
                Some(known) if *known != app => {
                    return Err(ApiError::unauthorized(
                        "The bearer tokens belong to different applications.",
                    ))
                }
                Some(_) => {}
                None => application = Some(app),
            }
            if !accounts.contains(&account) {
                accounts.push(account);
            }
        }
        let application = application.ok_or_else(invalid)?;
        Ok(Caller::Accounts {
            accounts,
            application,
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = match parts.extensions.get::<CredentialKey>() {
            Some(key) => key.clone(),
            None => {
                let (scheme, credential) = credentials(&parts.headers)?;
                CredentialKey::new(&scheme, &credential)
            }
        };
        if let Some(caller) = state.callers.get(&key.0) {
            crate::usage::attribute(state, &caller);
            return Ok(caller);
        }
        let (scheme, credential) = credentials(&parts.headers)?;
        let caller = Caller::verify(state, &scheme, &credential).await?;
        state.callers.insert(key.0, caller.clone());
        crate::usage::attribute(state, &caller);
        Ok(caller)
    }
}

/// A caller of the management API.
pub struct Developer(pub i64);

impl FromRequestParts<AppState> for Developer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Developer(id) => Ok(Developer(id)),
            _ => Err(ApiError::forbidden("This endpoint needs a DeveloperKey.")),
        }
    }
}

/// A caller acting for an application (API key or an account's bearer token), and the
/// member of an admin account's team it acts as (`X-Kloudless-As-User`), if any.
pub struct AppCaller(pub Caller, pub Option<String>);

/// The header naming the team member an admin account's request acts as.
pub const AS_USER: &str = "x-kloudless-as-user";

/// The checked `X-Kloudless-As-User` of a request (none when absent or empty).
fn as_user(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(AS_USER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid_parameters("`X-Kloudless-As-User` is not valid text."))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let id = cloudbridge_shared::team::MemberId::parse(text, "X-Kloudless-As-User")?;
    Ok(Some(id.as_str().to_string()))
}

impl AppCaller {
    /// The application the caller acts for.
    pub fn application(&self) -> &str {
        match &self.0 {
            Caller::Application(app)
            | Caller::Account {
                application: app, ..
            }
            | Caller::Accounts {
                application: app, ..
            } => app,
            Caller::Developer(_) => unreachable!("rejected by the extractor"),
        }
    }

    /// Resolves `{acct}` (`me` or a numeric id) to an account whose data this caller may
    /// use: an inactive account serves nothing (403 `account_inactive`), as in Kloudless,
    /// until it is reactivated or reconnected.
    /// With `X-Kloudless-As-User`, the account must be an admin account (else 403) and
    /// its jobs act as that member of its team.
    pub async fn account(&self, state: &AppState, acct: &str) -> Result<Account, ApiError> {
        let mut account = self.managed_account(state, acct).await?;
        if let Some(user) = &self.1 {
            if !account.admin {
                return Err(ApiError::forbidden(
                    "Only administrators can perform this action: `X-Kloudless-As-User` \
                     needs an admin account.",
                ));
            }
            account.as_user = Some(user.clone());
        }
        if account.active {
            return Ok(account);
        }
        let why = if account.needs_reauth {
            "The account must be reconnected: its service no longer accepts its credentials."
        } else {
            "The account is inactive; reactivate it with PATCH /v1/accounts/{id}."
        };
        Err(ApiError::new(403, "account_inactive", why))
    }

    /// Resolves `{acct}` like [`AppCaller::account`], inactive accounts included: for
    /// managing the account itself (get, reactivate, delete).
    pub async fn managed_account(&self, state: &AppState, acct: &str) -> Result<Account, ApiError> {
        let not_found = || ApiError::not_found("No account has this id.");
        let id = match (&self.0, acct) {
            (Caller::Account { account, .. }, "me") => *account,
            (Caller::Application(_), "me") => {
                return Err(ApiError::invalid_parameters(
                    "`me` needs a Bearer token; use the numeric account id with an API key.",
                ))
            }
            (_, raw) if raw.contains(',') || raw == "me" => {
                return Err(ApiError::invalid_parameters(
                    "This request takes one account; only search, recent files and \
                     availability take several.",
                ))
            }
            (_, raw) => raw.parse::<i64>().map_err(|_| not_found())?,
        };
        let allowed = match &self.0 {
            Caller::Account { account, .. } => *account == id,
            Caller::Accounts { accounts, .. } => accounts.contains(&id),
            _ => true,
        };
        if !allowed {
            return Err(not_found());
        }
        account_of(state, self.application(), id)
            .await?
            .ok_or_else(not_found)
    }
}

impl AppCaller {
    /// Resolves the `{acct}` of a multi-account request: comma-separated ids, or `me`
    /// with one or several bearer tokens. Each account is checked on its own (never one
    /// of another application, nor one the tokens do not name): what fails is answered
    /// beside the account id, so one bad id spoils nothing else.
    pub async fn accounts(
        &self,
        state: &AppState,
        acct: &str,
    ) -> Result<Vec<(i64, Result<Account, ApiError>)>, ApiError> {
        let ids: Vec<String> = match (&self.0, acct) {
            (Caller::Accounts { accounts, .. }, "me") => {
                accounts.iter().map(i64::to_string).collect()
            }
            _ if !acct.contains(',') => {
                let account = self.account(state, acct).await?;
                return Ok(vec![(account.id, Ok(account))]);
            }
            _ => acct.split(',').map(|s| s.trim().to_string()).collect(),
        };
        if ids.len() > MAX_ACCOUNTS {
            return Err(ApiError::invalid_parameters(format!(
                "At most {MAX_ACCOUNTS} accounts may be named at once."
            )));
        }
        let mut out: Vec<(i64, Result<Account, ApiError>)> = Vec::with_capacity(ids.len());
        for raw in ids {
            let id = raw
                .parse::<i64>()
                .map_err(|_| ApiError::not_found(format!("No account has the id `{raw}`.")))?;
            if out.iter().any(|(known, _)| *known == id) {
                continue;
            }
            out.push((id, self.account(state, &raw).await));
        }
        Ok(out)
    }
}

/// Account `id` of `application`, active or not, through the short-lived account cache
/// (`None`: the application has no such account).
pub async fn account_of(
    state: &AppState,
    application: &str,
    id: i64,
) -> Result<Option<Account>, ApiError> {
    let key = (application.to_string(), id);
    if let Some(account) = state.accounts.get(&key) {
        return Ok(Some(account));
    }
    let Some(account) = db::accounts::get(&state.db, application, id).await? else {
        return Ok(None);
    };
    state.accounts.insert(key, account.clone());
    Ok(Some(account))
}

impl FromRequestParts<AppState> for AppCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Developer(_) => Err(ApiError::forbidden(
                "Use an APIKey or a Bearer token for this endpoint.",
            )),
            caller => Ok(AppCaller(caller, as_user(&parts.headers)?)),
        }
    }
}
