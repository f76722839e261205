//! `next_page` values of folders listed in their service's own paging: the position the
//! next page starts at ([`Position`]), sealed with the appliance's key and bound to the
//! account and the folder, so that a client can only hand back what it was given, for the
//! folder it was given for.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cloudbridge_shared::{crypto::Cipher, storage::Position, ApiError};
use serde::{Deserialize, Serialize};

/// Longest `page` value taken as a token (service cursors are a few hundred bytes).
const MAX_TOKEN: usize = 8192;

/// What a token holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The account.
    a: i64,
    /// The folder's id, as the client asked for it.
    f: String,
    /// The number of the page it starts.
    n: u32,
    /// Where it starts.
    p: Position,
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

/// The page number and position a token of `account`'s folder `folder` stands for.
pub fn open(
    cipher: &Cipher,
    account: i64,
    folder: &str,
    token: &str,
) -> Result<(u32, Position), ApiError> {
    let bad = || {
        ApiError::invalid_parameters(
            "`page` must be a page number or a `next_page` value of this folder's listing.",
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
}
