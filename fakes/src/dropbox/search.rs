//! `files/search_v2` and `files/search/continue_v2`, from Dropbox's API reference.
//!
//! Covered: `query` (1 to 1000 characters; every whitespace-separated term must occur in
//! an item's name, ignoring case — Dropbox matches words and their prefixes, which this
//! includes), `options.path` (the folder searched, at any depth; `path/not_found` or
//! `path/not_folder` otherwise), `options.max_results` (1 to 1000, default 100),
//! `options.filename_only` and the other options accepted and ignored (only names are
//! indexed here, in path order rather than by relevance); answers `matches` of
//! `{metadata: {".tag": "metadata", metadata}, match_type: filename}`, `has_more` and,
//! while there is more, a `cursor` for `search/continue_v2` (over the tree as it is then;
//! an unknown cursor is a 400).

use std::sync::Arc;

use axum::{body::Bytes, extract::State, http::HeaderMap, response::Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    rpc::{call, resolve},
    state::Shared,
    tree::{Node, Target, Tree},
    wire::{self, Failure, Lookup},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchArg {
    query: String,
    #[serde(default)]
    options: Option<SearchOptions>,
    #[serde(default)]
    match_field_options: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchOptions {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    max_results: Option<u64>,
    #[serde(default)]
    order_by: Option<Value>,
    #[serde(default)]
    file_status: Option<Value>,
    #[serde(default)]
    filename_only: Option<bool>,
    #[serde(default)]
    file_extensions: Option<Vec<String>>,
    #[serde(default)]
    file_categories: Option<Value>,
    #[serde(default)]
    account_id: Option<String>,
}

/// Where a search stands (JSON, hex-encoded, as the opaque cursor).
#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Account.
    a: String,
    /// The query.
    q: String,
    /// Lower-cased folder searched (`""`: everywhere).
    p: String,
    /// Matches already answered.
    o: usize,
    /// Matches per answer.
    l: usize,
}

impl Cursor {
    fn encode(&self) -> String {
        serde_json::to_vec(self)
            .expect("cursor serializes")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn decode(text: &str) -> Option<Cursor> {
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect();
        serde_json::from_slice(&bytes?).ok()
    }
}

/// One answer of the search `cursor` stands for.
fn answer(tree: &Tree, cursor: Cursor) -> Value {
    let terms: Vec<String> = cursor.q.split_whitespace().map(str::to_lowercase).collect();
    let matches = |name: &str| {
        let name = name.to_lowercase();
        terms.iter().all(|t| name.contains(t.as_str()))
    };
    let hits: Vec<Value> = tree
        .children(&cursor.p, true)
        .into_iter()
        .filter(|item| matches(item.display.rsplit('/').next().unwrap_or_default()))
        .skip(cursor.o)
        .take(cursor.l + 1)
        .map(|item| {
            json!({
                "metadata": {".tag": "metadata", "metadata": Tree::metadata(item)},
                "match_type": {".tag": "filename"},
            })
        })
        .collect();
    let more = hits.len() > cursor.l;
    let shown: Vec<Value> = hits.into_iter().take(cursor.l).collect();
    let mut body = json!({ "matches": shown, "has_more": more });
    if more {
        let next = Cursor {
            o: cursor.o + cursor.l,
            ..cursor
        };
        body["cursor"] = next.encode().into();
    }
    body
}

/// `files/search_v2`.
pub async fn search_v2(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    const ROUTE: &str = "files/search_v2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: SearchArg| {
            let _ = arg.match_field_options;
            if arg.query.is_empty() || arg.query.chars().count() > 1000 {
                return Err(Failure::bad_input(
                    ROUTE,
                    "request body: query: length out of range [1, 1000]",
                ));
            }
            let options = arg.options.unwrap_or(SearchOptions {
                path: None,
                max_results: None,
                order_by: None,
                file_status: None,
                filename_only: None,
                file_extensions: None,
                file_categories: None,
                account_id: None,
            });
            let _ = (options.order_by, options.file_status, options.filename_only);
            let _ = (
                options.file_extensions,
                options.file_categories,
                options.account_id,
            );
            let l = options.max_results.unwrap_or(100);
            if !(1..=1000).contains(&l) {
                return Err(Failure::bad_input(
                    ROUTE,
                    "request body: options.max_results: out of range [1, 1000]",
                ));
            }
            let tree = inner.tree(account);
            let not_found = |l: Lookup| wire::nest("path", l.value());
            let p = match options.path.as_deref() {
                None | Some("") => String::new(),
                Some(path) => match resolve(tree, ROUTE, path, not_found)? {
                    Target::Root => String::new(),
                    Target::Path { lower, .. } => {
                        let item = tree
                            .get(&lower)
                            .ok_or_else(|| Failure::endpoint(not_found(Lookup::NotFound)))?;
                        if !matches!(item.node, Node::Folder) {
                            return Err(Failure::endpoint(not_found(Lookup::NotFolder)));
                        }
                        lower
                    }
                },
            };
            let cursor = Cursor {
                a: account.to_string(),
                q: arg.query,
                p,
                o: 0,
                l: l as usize,
            };
            Ok(answer(tree, cursor))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinueArg {
    cursor: String,
}

/// `files/search/continue_v2`.
pub async fn search_continue_v2(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/search/continue_v2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ContinueArg| {
            let cursor = Cursor::decode(&arg.cursor)
                .filter(|c| c.a == account)
                .ok_or_else(|| Failure::bad_input(ROUTE, "Invalid \"cursor\" parameter"))?;
            Ok(answer(inner.tree(account), cursor))
        },
    )
}
