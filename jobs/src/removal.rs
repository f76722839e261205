//! Removal of deleted accounts' data, run by housekeeping. Deleting an account (or its
//! application) removes its rows at once; a trigger records what it left on the data root
//! in `account_removals` (its `local` folder and thumbnail cache, the parts of its
//! unfinished multipart uploads), and this removes those in bounded runs: at most
//! `jobs.removal_batch` files and folders per run. A run that stops (the budget, an
//! error, a crash) leaves the row, and the next run carries on where the disk says it
//! stopped: every step is idempotent.

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
};

use cloudbridge_connectors::{local, parts, thumbnails};
use cloudbridge_shared::db::{self, removals::Removal};

use crate::WorkerState;

/// Removals looked at per run.
const ROWS_PER_RUN: i64 = 100;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Deleted accounts now entirely gone.
    pub accounts: usize,
    /// Files and folders removed.
    pub entries: usize,
}

/// Removes what deleted accounts left, within this run's budget.
#[tracing::instrument(skip_all)]
pub async fn remove_accounts(state: &WorkerState) -> anyhow::Result<Removed> {
    let mut budget = state.settings.jobs.removal_batch;
    let mut removed = Removed::default();
    for removal in db::removals::pending(&state.db, ROWS_PER_RUN).await? {
        if budget == 0 {
            break;
        }
        let account = removal.account_id;
        let paths = match leftovers(&state.data_root, &removal) {
            Ok(paths) => paths,
            Err(e) => {
                tracing::warn!(account, error = %e, "removal not understood");
                db::removals::failed(&state.db, account, &e.to_string()).await?;
                continue;
            }
        };
        let before = budget;
        let outcome = tokio::task::spawn_blocking(move || {
            let mut left = before;
            let done = paths.iter().try_fold(true, |done, path| {
                Ok::<_, std::io::Error>(done && remove_within(path, &mut left)?)
            });
            (done, left)
        })
        .await?;
        let (done, left) = outcome;
        removed.entries += before - left;
        budget = left;
        match done {
            Ok(true) => {
                db::removals::done(&state.db, account).await?;
                removed.accounts += 1;
            }
            // Out of budget: the next run goes on.
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(account, error = %e, "deleted account's data not removed yet");
                db::removals::failed(&state.db, account, &e.to_string()).await?;
            }
        }
    }
    Ok(removed)
}

/// The folders a deleted account left on the data root.
fn leftovers(data_root: &Path, removal: &Removal) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = removal
        .multipart_ids
        .iter()
        .map(|&id| parts::session_dir(data_root, id))
        .collect();
    if removal.service == "local" {
        let folder = local::account_root(removal.account_id, &removal.config)
            .map_err(|e| anyhow::anyhow!(e.message))?
            .ok_or_else(|| anyhow::anyhow!("a local account without a folder"))?;
        paths.push(data_root.join(folder));
        paths.push(data_root.join(thumbnails::account_cache(removal.account_id)));
    }
    Ok(paths)
}

/// Removes `path` and everything below it, depth first, taking one from `budget` per file
/// or folder removed; true once nothing is left, false when the budget ran out first.
/// Symbolic links are removed, never followed. What is already gone counts as removed.
fn remove_within(path: &Path, budget: &mut usize) -> std::io::Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
        other => other?,
    };
    if meta.is_dir() {
        for item in fs::read_dir(path)? {
            if !remove_within(&item?.path(), budget)? {
                return Ok(false);
            }
        }
    }
    if *budget == 0 {
        return Ok(false);
    }
    let result = if meta.is_dir() {
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        _ => *budget -= 1,
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_goes_within_the_budget_and_the_rest_later() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("acct");
        fs::create_dir_all(root.join("sub")).unwrap();
        for name in ["a", "b", "sub/c"] {
            fs::write(root.join(name), "x").unwrap();
        }
        let outside = dir.path().join("outside");
        fs::write(&outside, "kept").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("dirlink")).unwrap();

        let mut budget = 3;
        assert!(!remove_within(&root, &mut budget).unwrap());
        assert_eq!(budget, 0);
        assert!(root.exists());
        let mut budget = 100;
        assert!(remove_within(&root, &mut budget).unwrap());
        // a, b, sub/c, sub, link, dirlink, acct: seven in all.
        assert_eq!(100 - budget, 7 - 3);
        assert!(!root.exists());
        assert_eq!(fs::read_to_string(&outside).unwrap(), "kept");
        assert!(remove_within(&root, &mut budget).unwrap(), "gone is done");
    }
}
