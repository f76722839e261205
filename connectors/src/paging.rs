//! Folder pages cut from a service's own paging ([`Storage::batch`]), so that reading a
//! folder page by page costs a call or two per page instead of a whole listing; the
//! same for recursive listings ([`subtree`]) and searches in a service's index ([`search`]).
//!
//! A page ends at a [`Position`]: the service's cursor of the batch it stopped in and how
//! many of that batch's entries it showed. The page after it reads from there (the API
//! hands positions out sealed, as `next_page`); a page asked for by its number walks the
//! batches from the start, in the same order, so numbers and positions agree.

use std::future::Future;

use cloudbridge_shared::{
    storage::{Batch, Page, Position},
    ApiError, ItemPath,
};

use crate::Storage;

/// Page `page` of `folder`, or the page starting at `from`: in the service's own paging
/// where it has one, else as [`Storage::list`] pages it (a position is then refused: none
/// was handed out).
pub async fn list<S: Storage + ?Sized>(
    storage: &S,
    folder: &ItemPath,
    page: u32,
    page_size: u32,
    from: Option<&Position>,
) -> Result<Page, ApiError> {
    match self::page(storage, folder, page, page_size, from).await? {
        Some(page) => Ok(page),
        None if from.is_some() => Err(ApiError::invalid_parameters(
            "This `next_page` value is not one of this folder.",
        )),
        None => storage.list(folder, page, page_size).await,
    }
}

/// Page `page` of a folder of a service with paging of its own (its [`Storage::list`]).
pub async fn numbered<S: Storage + ?Sized>(
    storage: &S,
    folder: &ItemPath,
    page: u32,
    page_size: u32,
) -> Result<Page, ApiError> {
    self::page(storage, folder, page, page_size, None)
        .await?
        .ok_or_else(|| ApiError::internal("a service without batches paged by them"))
}

/// Batches read for one page at most: a service that keeps answering empty batches with a
/// cursor is not followed for ever.
const MAX_BATCHES: usize = 100_000;

/// Page `page` (1-based) of `page_size` entries of `folder`, or the page starting at
/// `from`, in the service's own paging; `None` when the service has none (its folders are
/// paged by [`Storage::list`]).
pub async fn page<S: Storage + ?Sized>(
    storage: &S,
    folder: &ItemPath,
    page: u32,
    page_size: u32,
    from: Option<&Position>,
) -> Result<Option<Page>, ApiError> {
    let read = |cursor: Option<String>| async move {
        storage.batch(folder, cursor.as_deref(), page_size).await
    };
    cut(read, page, page_size, from).await
}

/// Page `page` of everything below `folder`, or the page starting at `from`, in the
/// service's own recursive listing ([`Storage::subtree_batch`]); 501 where the service
/// has none.
pub async fn subtree<S: Storage + ?Sized>(
    storage: &S,
    folder: &ItemPath,
    page: u32,
    page_size: u32,
    from: Option<&Position>,
) -> Result<Page, ApiError> {
    let read = |cursor: Option<String>| async move {
        storage
            .subtree_batch(folder, cursor.as_deref(), page_size)
            .await
    };
    cut(read, page, page_size, from).await?.ok_or_else(|| {
        ApiError::not_implemented(
            "This service does not list folders recursively (`recursive=true` works on S3 and Dropbox).",
        )
    })
}

/// Page `page` of the hits of `query`, or the page starting at `from`, in the service's
/// own search index and paging ([`Storage::search_batch`]); `None` when the service has
/// no index.
pub async fn search<S: Storage + ?Sized>(
    storage: &S,
    query: &crate::search::Query,
    page: u32,
    page_size: u32,
    from: Option<&Position>,
) -> Result<Option<Page>, ApiError> {
    let read = |cursor: Option<String>| async move {
        storage
            .search_batch(query, cursor.as_deref(), page_size)
            .await
    };
    cut(read, page, page_size, from).await
}

/// The page [`page`] answers, from the batches `read` gives for a cursor.
async fn cut<F, R>(
    mut read: F,
    page: u32,
    page_size: u32,
    from: Option<&Position>,
) -> Result<Option<Page>, ApiError>
where
    F: FnMut(Option<String>) -> R,
    R: Future<Output = Result<Option<Batch>, ApiError>>,
{
    let size = page_size as usize;
    let (mut at, mut skip) = match from {
        Some(from) => (from.clone(), 0),
        None => (Position::default(), (page as usize - 1) * size),
    };
    let mut entries = Vec::with_capacity(size.min(1000));
    for _ in 0..MAX_BATCHES {
        let Some(Batch {
            entries: batch,
            next,
        }) = read(at.cursor.clone()).await?
        else {
            return Ok(None);
        };
        let len = batch.len();
        let mut i = (at.skip as usize).min(len);
        let skipped = skip.min(len - i);
        i += skipped;
        skip -= skipped;
        let taken = (size - entries.len()).min(len - i);
        entries.extend(batch.into_iter().skip(i).take(taken));
        i += taken;
        let full = skip == 0 && entries.len() == size;
        let after = match next {
            // The page ends inside this batch.
            _ if full && i < len => Some(Position {
                cursor: at.cursor,
                skip: i as u32,
            }),
            Some(next) if !full => {
                at = Position {
                    cursor: Some(next),
                    skip: 0,
                };
                continue;
            }
            next => next.map(|next| Position {
                cursor: Some(next),
                skip: 0,
            }),
        };
        return finish(entries, page, after, from.is_none());
    }
    Err(ApiError::bad_gateway(
        "The service kept paging without giving entries.",
    ))
}

/// The page of `entries` that ends where `after` is (`None`: the folder's end). A page
/// asked for by number past the end (other than the first) is "not found", as with
/// [`Page::slice`].
fn finish(
    entries: Vec<cloudbridge_shared::Entry>,
    page: u32,
    after: Option<Position>,
    by_number: bool,
) -> Result<Option<Page>, ApiError> {
    if by_number && page > 1 && entries.is_empty() {
        return Err(ApiError::not_found("This page does not exist."));
    }
    Ok(Some(Page {
        entries,
        page,
        next_page: after.as_ref().map(|_| page + 1),
        total: None,
        truncated: false,
        next_from: after,
    }))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use cloudbridge_shared::{storage::ItemKind, Entry};

    use super::*;

    /// A service holding `n` entries named `0`, `1`, … in batches of `batch` (cursors are
    /// batch numbers); counts the batches read.
    struct Service {
        n: usize,
        batch: usize,
        reads: Cell<usize>,
    }

    impl Service {
        fn new(n: usize, batch: usize) -> Self {
            Self {
                n,
                batch,
                reads: Cell::new(0),
            }
        }

        async fn read(&self, cursor: Option<String>) -> Result<Option<Batch>, ApiError> {
            self.reads.set(self.reads.get() + 1);
            let at: usize = cursor.map_or(0, |c| c.parse().unwrap());
            let end = ((at + 1) * self.batch).min(self.n);
            let entries = (at * self.batch..end)
                .map(|i| Entry {
                    id: None,
                    parent_id: None,
                    path: ItemPath::parse(&i.to_string()).unwrap(),
                    kind: ItemKind::File,
                    size: Some(0),
                    mime_type: None,
                    created: None,
                    modified: None,
                    raw: None,
                })
                .collect();
            let next = (end < self.n).then(|| (at + 1).to_string());
            Ok(Some(Batch { entries, next }))
        }

        async fn page(&self, page: u32, size: u32, from: Option<&Position>) -> Page {
            cut(|c| self.read(c), page, size, from)
                .await
                .unwrap()
                .unwrap()
        }
    }

    fn names(page: &Page) -> Vec<usize> {
        page.entries
            .iter()
            .map(|e| e.path.name().parse().unwrap())
            .collect()
    }

    /// Follows `next_from` from the first page; every entry once, in order.
    async fn follow(service: &Service, size: u32) -> (Vec<usize>, u32) {
        let (mut seen, mut pages) = (Vec::new(), 0);
        let mut page = service.page(1, size, None).await;
        loop {
            pages += 1;
            seen.extend(names(&page));
            assert!(page.entries.len() <= size as usize);
            match page.next_from.clone() {
                Some(at) => page = service.page(page.page + 1, size, Some(&at)).await,
                None => return (seen, pages),
            }
        }
    }

    #[tokio::test]
    async fn positions_read_every_entry_once_at_any_batch_size() {
        for (n, batch, size) in [(10, 3, 4), (10, 5, 5), (10, 20, 3), (0, 4, 2), (7, 1, 7)] {
            let service = Service::new(n, batch);
            let (seen, pages) = follow(&service, size).await;
            assert_eq!(
                seen,
                (0..n).collect::<Vec<_>>(),
                "n {n} batch {batch} size {size}"
            );
            // A page costs the batches it spans and the one it starts in: two when
            // batches are at least a page long (the connectors ask for a page).
            let per_page = (size as usize).div_ceil(batch) + 1;
            assert!(
                service.reads.get() <= per_page * pages as usize,
                "{} reads",
                service.reads.get()
            );
        }
    }

    #[tokio::test]
    async fn numbers_and_positions_agree() {
        let service = Service::new(25, 4);
        let second = service.page(2, 10, None).await;
        assert_eq!(names(&second), (10..20).collect::<Vec<_>>());
        let first = service.page(1, 10, None).await;
        let by_position = service.page(2, 10, first.next_from.as_ref()).await;
        assert_eq!(names(&by_position), names(&second));
        assert_eq!(second.next_page, Some(3));
        let past = cut(|c| service.read(c), 4, 10, None).await;
        assert_eq!(past.unwrap_err().status, 404);
    }

    #[tokio::test]
    async fn ten_thousand_entries_cost_o_entries_reads() {
        let service = Service::new(10_000, 1000);
        let (seen, pages) = follow(&service, 100).await;
        assert_eq!((seen.len(), pages), (10_000, 100));
        // Each page of 100 re-reads the batch of 1000 it lies in: one read a page.
        assert_eq!(service.reads.get(), 100);
    }
}
