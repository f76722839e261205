//! Calendars of calendar accounts (the Calendar API), as the workers read them: what a
//! calendar service provides. Implemented by [`caldav`](crate::caldav) so far.

use async_trait::async_trait;
use cloudbridge_shared::ApiError;

/// One calendar as its service describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarInfo {
    /// The service's own name for it (CalDAV: the collection's path).
    pub native_id: String,
    /// Its name (CalDAV `displayname`, else the collection's last path segment).
    pub name: String,
    /// Its description, when it has one.
    pub description: Option<String>,
    /// Its time zone (an IANA name), when it says one.
    pub timezone: Option<String>,
}

/// What a calendar service provides.
#[async_trait]
pub trait Calendar: Send + Sync {
    /// The account's calendars of events, in the service's order.
    async fn calendars(&self) -> Result<Vec<CalendarInfo>, ApiError>;
}
