//! Search and recent files.
//!
//! Search asks the service's own index where it has one (Google Drive, OneDrive, Dropbox,
//! Box: [`Storage::search_batch`]), in the service's own paging, so that a page handed out
//! as a `next_page` position costs a service call or two whatever its number. The other
//! services (local, S3, WebDAV, SFTP) have no index: their searches, and recent files
//! everywhere, are answered from a bounded walk of the account ([`Storage::walk`]), which
//! says in the answer (`truncated`) when it stopped at its limit.

use chrono::{DateTime, Utc};
use cloudbridge_connectors::{
    paging,
    search::{Query, Scope},
    Storage,
};
use cloudbridge_shared::{
    storage::{ItemKind, Page, Position},
    ApiError, ItemPath, ItemRef,
};

/// Items below `parents` (the root when empty) whose name contains `q`: page `page`, or
/// the page starting at `from` (a position a native search handed out). From the
/// service's index where it has one; else by a crawl, ignoring case, ordered by path.
pub async fn search(
    storage: &dyn Storage,
    q: &str,
    parents: &[ItemRef],
    (page, page_size): (u32, u32),
    from: Option<&Position>,
    limit: usize,
) -> Result<Page, ApiError> {
    let within = scopes(storage, parents).await?;
    let query = Query {
        text: q.to_string(),
        within,
    };
    if let Some(page) = paging::search(storage, &query, page, page_size, from).await? {
        return Ok(page);
    }
    if from.is_some() {
        return Err(ApiError::invalid_parameters(
            "This `next_page` value is not one of this search.",
        ));
    }
    let needle = q.to_lowercase();
    let keep = move |e: &cloudbridge_shared::Entry| e.path.name().to_lowercase().contains(&needle);
    let mut roots: Vec<ItemPath> = query.within.into_iter().map(|s| s.path).collect();
    if roots.is_empty() {
        roots.push(ItemPath::root());
    }
    let mut found = Vec::new();
    let mut budget = limit;
    let mut truncated = false;
    for root in &roots {
        let walk = storage.walk(root, &keep, budget).await?;
        budget -= walk.visited;
        found.extend(walk.found);
        if walk.truncated {
            tracing::warn!(
                limit,
                "search stopped at the crawl limit; results are partial"
            );
            truncated = true;
            break;
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    // Overlapping parents find the same items twice.
    found.dedup_by(|a, b| a.path == b.path);
    paged(found, page, page_size, truncated)
}

/// The folders `parents` names, where they are, none inside another (the one above
/// stands for both); empty when they include the root, or name none.
async fn scopes(storage: &dyn Storage, parents: &[ItemRef]) -> Result<Vec<Scope>, ApiError> {
    let mut scopes: Vec<Scope> = Vec::with_capacity(parents.len());
    for parent in parents {
        let path = storage.locate(parent).await?;
        if path.is_root() {
            return Ok(Vec::new());
        }
        scopes.push(Scope {
            item: parent.clone(),
            path,
        });
    }
    let inside = |a: &ItemPath, b: &ItemPath| {
        a.as_str()
            .strip_prefix(b.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    };
    let all = scopes.clone();
    scopes.retain(|s| !all.iter().any(|o| inside(&s.path, &o.path)));
    // The same folder named twice is searched once.
    let mut seen = std::collections::HashSet::new();
    scopes.retain(|s| seen.insert(s.path.clone()));
    Ok(scopes)
}

/// Files modified after `after` (all when `None`), newest first.
pub async fn recent(
    storage: &dyn Storage,
    after: Option<DateTime<Utc>>,
    (page, page_size): (u32, u32),
    limit: usize,
) -> Result<Page, ApiError> {
    let keep = move |e: &cloudbridge_shared::Entry| {
        e.kind == ItemKind::File && after.is_none_or(|after| e.modified.is_some_and(|m| m > after))
    };
    let walk = storage.walk(&ItemPath::root(), &keep, limit).await?;
    if walk.truncated {
        tracing::warn!(
            limit,
            "recent stopped at the crawl limit; results are partial"
        );
    }
    let mut found = walk.found;
    found.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| a.path.cmp(&b.path))
    });
    paged(found, page, page_size, walk.truncated)
}

fn paged(
    found: Vec<cloudbridge_shared::Entry>,
    page: u32,
    page_size: u32,
    truncated: bool,
) -> Result<Page, ApiError> {
    let total = found.len() as u64;
    // An empty result is an empty first page, not a missing one.
    let (entries, next_page) = Page::slice(found, page, page_size)?;
    Ok(Page {
        entries,
        page,
        next_page,
        total: Some(total),
        truncated,
        next_from: None,
    })
}
