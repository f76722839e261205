//! One step of a collection: what it learnt about items and the events it found, written
//! in one transaction with the feed position reached. A crash between steps replays the
//! next step against state that already holds the earlier ones, so no event is stored
//! twice and none is lost.
//!
//! A step starts by renewing the collection's lease inside its transaction: that fences
//! it (a collection whose lease was taken over writes nothing) and locks the account's
//! feed row until the step commits, so one account's steps commit one after the other,
//! in the order of their event ids.

use cloudbridge_shared::{
    db::{
        self,
        feeds::{FencedError, Lease, Seen},
    },
    storage::EventType,
    Entry,
};
use sqlx::{PgPool, Postgres, Transaction};

use super::classify::{classify, gone, seen};

/// An open step.
pub struct Step {
    tx: Transaction<'static, Postgres>,
    lease: Lease,
    emit: bool,
    put: Vec<Seen>,
    events: Vec<(EventType, Entry)>,
}

impl Step {
    /// Starts a step under `lease` (renewed for `lease_secs`); `emit` false records items
    /// without events (the first collection).
    pub async fn begin(
        pool: &PgPool,
        lease: &Lease,
        lease_secs: u64,
        emit: bool,
    ) -> Result<Self, FencedError> {
        let mut tx = pool.begin().await?;
        db::feeds::extend(&mut tx, lease, lease_secs).await?;
        Ok(Self {
            tx,
            lease: lease.clone(),
            emit,
            put: Vec::new(),
            events: Vec::new(),
        })
    }

    /// The transaction, for reads that must see this step's earlier writes.
    pub async fn conn(&mut self) -> Result<&mut sqlx::PgConnection, sqlx::Error> {
        self.flush().await?;
        Ok(&mut self.tx)
    }

    /// Records that the item `key`, last seen as `before`, is now `entry`.
    pub async fn observe(
        &mut self,
        before: Option<&Seen>,
        key: String,
        entry: Entry,
        hint: Option<EventType>,
    ) -> Result<(), sqlx::Error> {
        let now = seen(key, &entry);
        if before == Some(&now) {
            return Ok(());
        }
        if let Some(before) = before.filter(|b| b.folder && b.path != now.path) {
            self.flush().await?;
            db::feeds::move_below(&mut self.tx, self.lease.account_id, &before.path, &now.path)
                .await?;
        }
        if let Some(before) = before.filter(|b| b.key != now.key) {
            // Replaced by an item with another id: the old id is gone with it.
            self.forget(&before.key).await?;
        }
        if self.emit {
            if let Some(kind) = classify(before, &entry, hint) {
                self.events.push((kind, entry));
            }
        }
        self.put.push(now);
        Ok(())
    }

    /// Records that the item last seen as `before` is gone (with what was below it).
    pub async fn remove(&mut self, before: &Seen) -> Result<(), sqlx::Error> {
        self.forget(&before.key).await?;
        if before.folder {
            db::feeds::forget_below(&mut self.tx, self.lease.account_id, &before.path).await?;
        }
        if self.emit {
            self.events.push((EventType::Delete, gone(before)));
        }
        Ok(())
    }

    /// Forgets the item seen under `key` (after writing what is pending).
    async fn forget(&mut self, key: &str) -> Result<(), sqlx::Error> {
        self.flush().await?;
        db::feeds::forget(&mut self.tx, self.lease.account_id, &[key.to_string()]).await
    }

    async fn flush(&mut self) -> Result<(), sqlx::Error> {
        db::feeds::put(&mut self.tx, self.lease.account_id, &self.put).await?;
        self.put.clear();
        Ok(())
    }

    /// Writes everything, with the feed position reached when `cursor` is given. Returns
    /// the number of events stored.
    pub async fn commit(mut self, cursor: Option<Option<&str>>) -> Result<usize, FencedError> {
        self.flush().await?;
        let stored = self.events.len();
        let account = self.lease.account_id;
        if stored > 0 {
            db::events::insert(&mut self.tx, account, &self.events).await?;
            db::webhooks::notify(&mut self.tx, account).await?;
        }
        if let Some(cursor) = cursor {
            db::feeds::save_cursor(&mut self.tx, &self.lease, cursor).await?;
        }
        self.tx.commit().await?;
        Ok(stored)
    }
}
