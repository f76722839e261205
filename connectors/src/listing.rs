//! Folder listings paged from one read of the folder, for services whose listings must
//! be read whole to be put in name order (Drive, OneDrive, Box).
//!
//! Page 1 is always read afresh; the listing it read is kept for [`KEEP`], and the later
//! pages of that folder are cut from it, so paging through a folder reads each item
//! once instead of once per page. Kept listings are bounded by [`MAX_ENTRIES`] entries in
//! all (the oldest go first; a folder larger than that is not kept, and each of its pages
//! reads it again). A later page on another worker, or after [`KEEP`], reads the folder
//! again.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

use cloudbridge_shared::{storage::Page, ApiError, Entry, ItemPath};

/// How long a listing is kept for its later pages.
pub const KEEP: Duration = Duration::from_secs(60);
/// Entries kept by one process in all listings.
pub const MAX_ENTRIES: usize = 200_000;

type Listing = Arc<Vec<Entry>>;
/// `(account, folder path)`.
type Key = (i64, String);

/// Kept listings by `(account, folder path)`, with when they were read.
static KEPT: LazyLock<Mutex<HashMap<Key, (Listing, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Page `page` of `page_size` entries of the folder `folder` of `account`, in name
/// order; `read` reads the whole folder (page 1 always, a later page when no listing of
/// the folder is kept).
pub async fn page<F>(
    account: i64,
    folder: &ItemPath,
    page: u32,
    page_size: u32,
    read: F,
) -> Result<Page, ApiError>
where
    F: Future<Output = Result<Vec<Entry>, ApiError>>,
{
    let key = (account, folder.as_str().to_string());
    let cached = if page > 1 { kept(&key) } else { None };
    let listing = match cached {
        Some(listing) => listing,
        None => {
            let mut entries = read.await?;
            entries.sort_by(|a, b| a.path.name().cmp(b.path.name()));
            let listing = Arc::new(entries);
            if account != 0 && listing.len() > page_size as usize {
                keep(key, listing.clone());
            }
            listing
        }
    };
    let (at, next_page) = Page::slice((0..listing.len()).collect(), page, page_size)?;
    Ok(Page {
        entries: at.into_iter().map(|i| listing[i].clone()).collect(),
        page,
        next_page,
        total: None,
        truncated: false,
    })
}

/// The listing kept under `key`, if still fresh.
fn kept(key: &Key) -> Option<Listing> {
    let kept = KEPT.lock().expect("kept listings");
    let (listing, at) = kept.get(key)?;
    (at.elapsed() < KEEP).then(|| listing.clone())
}

/// Keeps `listing` under `key`, making room.
fn keep(key: Key, listing: Listing) {
    if listing.len() > MAX_ENTRIES {
        return;
    }
    let mut kept = KEPT.lock().expect("kept listings");
    kept.remove(&key);
    kept.retain(|_, (_, at)| at.elapsed() < KEEP);
    let mut total: usize = kept.values().map(|(l, _)| l.len()).sum();
    while total + listing.len() > MAX_ENTRIES {
        let Some(oldest) = kept
            .iter()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        if let Some((gone, _)) = kept.remove(&oldest) {
            total -= gone.len();
        }
    }
    kept.insert(key, (listing, Instant::now()));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use cloudbridge_shared::storage::ItemKind;

    use super::*;

    fn entries(names: &[&str]) -> Vec<Entry> {
        names
            .iter()
            .map(|n| Entry {
                id: None,
                parent_id: None,
                path: ItemPath::parse(n).unwrap(),
                kind: ItemKind::File,
                size: Some(0),
                mime_type: None,
                created: None,
                modified: None,
                raw: None,
            })
            .collect()
    }

    async fn never() -> Result<Vec<Entry>, ApiError> {
        unreachable!("the kept listing serves this page")
    }

    #[tokio::test]
    async fn later_pages_come_from_the_listing_page_one_read() {
        let reads = AtomicU32::new(0);
        let folder = ItemPath::root();
        let read = |names: &'static [&'static str]| {
            reads.fetch_add(1, Ordering::SeqCst);
            async move { Ok(entries(names)) }
        };
        let names = |p: &Page| -> Vec<String> {
            p.entries
                .iter()
                .map(|e| e.path.name().to_string())
                .collect()
        };
        let first = page(-7, &folder, 1, 2, read(&["c", "a", "b"]))
            .await
            .unwrap();
        assert_eq!(
            (names(&first), first.next_page),
            (vec!["a".into(), "b".into()], Some(2))
        );
        let second = page(-7, &folder, 2, 2, never()).await.unwrap();
        assert_eq!((names(&second), second.next_page), (vec!["c".into()], None));
        // Page 1 reads again, and what it read serves the next pages.
        let again = page(-7, &folder, 1, 2, read(&["d", "e", "f"]))
            .await
            .unwrap();
        assert_eq!(names(&again), vec!["d", "e"]);
        let last = page(-7, &folder, 2, 2, never()).await.unwrap();
        assert_eq!(names(&last), vec!["f"]);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        // Past the end is "not found"; other accounts keep nothing of this one's.
        let past = page(-7, &folder, 3, 2, never()).await;
        assert_eq!(past.unwrap_err().status, 404);
        let other = page(-8, &folder, 2, 2, read(&["x"])).await;
        assert_eq!(other.unwrap_err().status, 404);
    }
}
