//! The token sweep: refreshes the OAuth tokens that are due (past the refresh fraction of
//! their lifetime, or idle for a day so services keep the refresh token alive). Each
//! refresh goes through the [`Keeper`](cloudbridge_connectors::oauth::Keeper), which
//! re-checks under the row lock, so overlapping sweeps and requests refresh once.

use cloudbridge_connectors::oauth::keeper::Sweep;
use cloudbridge_shared::db;
use futures::StreamExt;

use crate::WorkerState;

/// Refreshes run at once by one sweep.
const PARALLEL: usize = 16;

/// What one sweep did.
#[derive(Debug, Default)]
pub struct Swept {
    /// Accounts found due.
    pub due: usize,
    /// Tokens refreshed.
    pub refreshed: usize,
    /// Refreshes that failed (counted on the account; see the keeper).
    pub failed: usize,
}

/// Runs one sweep.
pub async fn sweep(state: &WorkerState) -> Swept {
    let Some(keeper) = state.connectors.tokens.as_ref() else {
        return Swept::default();
    };
    let oauth = &state.settings.oauth;
    let due = match db::tokens::due(
        &state.db,
        oauth.refresh_at_fraction,
        oauth.refresh_idle_secs as i64,
        oauth.sweep_batch,
    )
    .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "due tokens not listed");
            return Swept::default();
        }
    };
    let mut swept = Swept {
        due: due.len(),
        ..Swept::default()
    };
    let mut runs = futures::stream::iter(due)
        .map(|account| async move { (account, keeper.refresh_due(account).await) })
        .buffer_unordered(PARALLEL);
    while let Some((account, result)) = runs.next().await {
        match result {
            Ok(Sweep::Refreshed) => swept.refreshed += 1,
            Ok(Sweep::Skipped) => {}
            Err(e) => {
                swept.failed += 1;
                tracing::warn!(account, error = %e.message, "sweep refresh failed");
            }
        }
    }
    swept
}
