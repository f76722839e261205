//! Webhook delivery from the PostgreSQL outbox (see `cloudbridge_shared::db::webhooks`).

use crate::WorkerState;

/// Sends the notifications that are due. Placeholder until delivery lands: nothing is
/// claimed, so every notification stays pending in the outbox.
pub async fn deliver(state: &WorkerState, tick: i64) {
    let _ = (state, tick);
}
