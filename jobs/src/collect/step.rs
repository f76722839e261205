//! One step of a collection: what it learnt about items and the events it found, written
//! in one transaction with the feed position reached. A crash between steps replays the
//! next step against state that already holds the earlier ones, so no event is stored
//! twice and none is lost.

use cloudbridge_shared::{
    db::{self, feeds::Seen},
    storage::EventType,
    Entry,
};
use sqlx::{PgPool, Postgres, Transaction};

use super::classify::{classify, gone, seen};

/// An open step.
pub struct Step {
    tx: Transaction<'static, Postgres>,
    account: i64,
    emit: bool,
    put: Vec<Seen>,
    events: Vec<(EventType, Entry)>,
}

impl Step {
    /// Starts a step; `emit` false records items without events (the first collection).
    pub async fn begin(pool: &PgPool, account: i64, emit: bool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: pool.begin().await?,
            account,
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
            db::feeds::move_below(&mut self.tx, self.account, &before.path, &now.path).await?;
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
            db::feeds::forget_below(&mut self.tx, self.account, &before.path).await?;
        }
        if self.emit {
            self.events.push((EventType::Delete, gone(before)));
        }
        Ok(())
    }

    /// Forgets the item seen under `key` (after writing what is pending).
    async fn forget(&mut self, key: &str) -> Result<(), sqlx::Error> {
        self.flush().await?;
        db::feeds::forget(&mut self.tx, self.account, &[key.to_string()]).await
    }

    async fn flush(&mut self) -> Result<(), sqlx::Error> {
        db::feeds::put(&mut self.tx, self.account, &self.put).await?;
        self.put.clear();
        Ok(())
    }

    /// Writes everything, with the feed position reached when `cursor` is given, and
    /// keeps the collection's lease. Returns the number of events stored.
    pub async fn commit(
        mut self,
        cursor: Option<Option<&str>>,
        lease_secs: u64,
    ) -> Result<usize, sqlx::Error> {
        self.flush().await?;
        let stored = self.events.len();
        if stored > 0 {
            db::events::insert(&mut self.tx, self.account, &self.events).await?;
            db::webhooks::notify(&mut self.tx, self.account).await?;
        }
        if let Some(cursor) = cursor {
            db::feeds::save_cursor(&mut self.tx, self.account, cursor).await?;
        }
        db::feeds::extend(&mut self.tx, self.account, lease_secs).await?;
        self.tx.commit().await?;
        Ok(stored)
    }
}
