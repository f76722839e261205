//! `next_page` values of lists read in their service's own paging (folder contents,
//! recursive listings, searches in a service's index): the position the next page starts
//! at ([`Position`]), sealed with the appliance's key and bound to the account and to what
//! was listed (the folder, or the search's query and folders: its [`search_scope`]), so
//! that a client can only hand back what it was given, for the list it was given for.

use std::collections::HashMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cloudbridge_shared::{
    crypto::Cipher,
    storage::{Page, Position},
    ApiError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::extract::Paging;

/// Longest `page` value taken as a token (service cursors are a few hundred bytes).
const MAX_TOKEN: usize = 8192;

/// What a token holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The account.
    a: i64,
    /// What was listed: the folder's id as the client asked for it, or a search's scope.
    f: String,
    /// The number of the page it starts.
    n: u32,
    /// Where it starts.
    p: Position,
}

/// What a search's tokens are bound to: its text and its folders as the client named
/// them (a folder id never holds a NUL, so no folder's token opens for a search).
pub fn search_scope(q: &str, parents: &str) -> String {
    format!("search\0{q}\0{parents}")
}

/// What a recursive listing's tokens are bound to (not the folder's plain listing).
pub fn recursive_scope(folder: &str) -> String {
    format!("recursive\0{folder}")
}

/// A `page` parameter of a list handing out positions: a page number, or, with a key
/// configured, a `next_page` token (any value that is not a number).
pub struct Requested<'a> {
    /// The page number asked for (1 with a token, whose number is inside it) and size.
    pub paging: Paging,
    /// The token, if `page` was one.
    pub token: Option<&'a str>,
}

/// Reads `page` and `page_size` of `q` (`default` entries a page, at most 1000).
pub fn requested<'a>(
    cipher: Option<&Cipher>,
    q: &'a HashMap<String, String>,
    default: u32,
) -> Result<Requested<'a>, ApiError> {
    let raw = q.get("page").map(String::as_str).unwrap_or_default();
    // Without a key no token was handed out: every `page` is a number then.
    let token = (cipher.is_some() && !raw.bytes().all(|b| b.is_ascii_digit())).then_some(raw);
    let paging = Paging::parse(
        token.is_none().then_some(raw),
        q.get("page_size").map(String::as_str),
        default,
        1000,
    )?;
    Ok(Requested { paging, token })
}

impl Requested<'_> {
    /// The page number and, for a token, the position it stands for: opened for
    /// `account`'s list `scope`.
    pub fn resolve(
        &self,
        cipher: Option<&Cipher>,
        account: i64,
        scope: &str,
    ) -> Result<(u32, Option<Position>), ApiError> {
        match (self.token, cipher) {
            (Some(token), Some(cipher)) => {
                let (page, at) = open(cipher, account, scope, token)?;
                Ok((page, Some(at)))
            }
            _ => Ok((self.paging.page, None)),
        }
    }

    /// `page` as the answer shows it: the token given, else the number.
    pub fn shown(&self, page: u32) -> Value {
        match self.token {
            Some(token) => token.into(),
            None => page.into(),
        }
    }
}

/// The `next_page` of `page` of `account`'s list `scope`: a sealed position where the
/// page ends in the service's own paging, else the next number (or null at the end).
pub fn next(cipher: Option<&Cipher>, account: i64, scope: &str, page: &Page) -> Value {
    match (&page.next_from, cipher) {
        (Some(at), Some(cipher)) => seal(cipher, account, scope, page.page + 1, at.clone()).into(),
        _ => page.next_page.into(),
    }
}

/// The `next_page` value of the page numbered `page` starting at `at`.
pub fn seal(cipher: &Cipher, account: i64, folder: &str, page: u32, at: Position) -> String {
    let sealed = Sealed {
        a: account,
        f: folder.to_string(),
        n: page,
        p: at,
    };
    let plain = serde_json::to_vec(&sealed).expect("a token serialises");
    URL_SAFE_NO_PAD.encode(cipher.seal(&plain))
}

/// The page number and position a token of `account`'s list `folder` stands for.
pub fn open(
    cipher: &Cipher,
    account: i64,
    folder: &str,
    token: &str,
) -> Result<(u32, Position), ApiError> {
    let bad = || {
        ApiError::invalid_parameters(
            "`page` must be a page number or a `next_page` value of this list.",
        )
    };
    if token.len() > MAX_TOKEN {
        return Err(bad());
    }
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let plain = cipher.try_open(&raw).ok_or_else(bad)?;
    let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| bad())?;
    if sealed.a != account || sealed.f != folder || sealed.n < 2 {
        return Err(bad());
    }
    Ok((sealed.n, sealed.p))
}

#[cfg(test)]
mod tests {
    use cloudbridge_shared::{config::SecretSettings, secret::Secret};

    use super::*;

    fn cipher() -> Cipher {
        let keys = Secret::new(Cipher::generate_key("t"));
        Cipher::from_settings(&SecretSettings { keys })
            .unwrap()
            .unwrap()
    }

    #[test]
    fn tokens_round_trip_only_for_their_folder() {
        let cipher = cipher();
        let at = Position {
            cursor: Some("next".into()),
            skip: 3,
        };
        let token = seal(&cipher, 7, "folder_x", 2, at.clone());
        assert_eq!(open(&cipher, 7, "folder_x", &token).unwrap(), (2, at));
        assert!(open(&cipher, 8, "folder_x", &token).is_err());
        assert!(open(&cipher, 7, "folder_y", &token).is_err());
        assert!(open(&cipher, 7, "folder_x", "garbage").is_err());
        assert!(open(&cipher, 7, "folder_x", &"A".repeat(MAX_TOKEN + 1)).is_err());
        let other = self::cipher();
        assert!(open(&other, 7, "folder_x", &token).is_err());
    }

    #[test]
    fn search_tokens_open_only_for_their_query() {
        let cipher = cipher();
        let scope = search_scope("report", "folder_a");
        let token = seal(&cipher, 7, &scope, 3, Position::default());
        assert_eq!(open(&cipher, 7, &scope, &token).unwrap().0, 3);
        for other in [
            search_scope("reports", "folder_a"),
            search_scope("report", ""),
            search_scope("report", "folder_b"),
            "folder_a".to_string(),
            recursive_scope("folder_a"),
        ] {
            assert!(open(&cipher, 7, &other, &token).is_err(), "{other:?}");
        }
        assert!(open(&cipher, 8, &scope, &token).is_err());
    }
}
