//! Search and recent files: answered from a bounded walk of the account, since none of
//! the services served today has a name index we could ask.

use chrono::{DateTime, Utc};
use cloudbridge_connectors::Storage;
use cloudbridge_shared::{
    storage::{ItemKind, Page},
    ApiError, ItemPath, ItemRef,
};

/// Items below `parents` (the root when empty) whose name contains `q`, ignoring case,
/// ordered by path.
pub async fn search(
    storage: &dyn Storage,
    q: &str,
    parents: &[ItemRef],
    (page, page_size): (u32, u32),
    limit: usize,
) -> Result<Page, ApiError> {
    let needle = q.to_lowercase();
    let keep = move |e: &cloudbridge_shared::Entry| e.path.name().to_lowercase().contains(&needle);
    let mut roots = Vec::with_capacity(parents.len().max(1));
    for parent in parents {
        roots.push(storage.locate(parent).await?);
    }
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
