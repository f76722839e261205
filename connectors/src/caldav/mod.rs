//! `caldav`: calendars on a CalDAV server (RFC 4791; iCloud, Fastmail, Nextcloud,
//! Radicale…), connected with a URL, a user name and a password. Its accounts answer the
//! Calendar API only: the storage operations answer 501.
//!
//! Tested against Radicale 3.

use async_trait::async_trait;
use cloudbridge_shared::{
    protocol::{AccountRef, TransferPlan},
    storage::{Capabilities, ItemKind, Page},
    ApiError, Entry, ItemPath,
};
use serde::{Deserialize, Serialize};

use crate::{
    service::{self, Api, Category, Connect, Service, Staging},
    Context, Storage,
};

pub mod client;
pub mod xml;

/// `caldav`.
pub static SERVICE: Service = Service {
    name: "caldav",
    aliases: &[],
    display_name: "CalDAV",
    apis: &[Api::Calendar],
    category: Category::Calendar,
    connect: Connect::Credentials,
    capabilities: &[],
    staging: Staging::NotOnService,
    colour: "#2e7d32",
    open,
    item_key: service::no_item_key,
    names_by_id: false,
};

/// Non-secret configuration of a CalDAV account.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CaldavConfig {
    /// The server's URL: its root, a principal or a calendar home
    /// (`https://caldav.example.com/dav/`).
    pub url: String,
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
}

/// Credentials of a CalDAV account (sealed at rest).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CaldavSecrets {
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
}

fn open(ctx: &Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    let config: CaldavConfig = serde_json::from_value(account.config.clone())
        .map_err(|e| ApiError::internal(format_args!("stored settings: {e}")))?;
    let secrets: CaldavSecrets = crate::open_secrets(account, ctx.cipher.as_deref())?;
    Ok(Box::new(Caldav {
        client: client::Client::new(&config, &secrets, &ctx.guard)?,
    }))
}

/// One CalDAV account.
pub struct Caldav {
    client: client::Client,
}

/// The answer of every storage operation.
fn no_storage() -> ApiError {
    ApiError::not_implemented(
        "CalDAV accounts answer the Calendar API (`/cal/…`), not the storage API.",
    )
}

#[async_trait]
impl Storage for Caldav {
    fn capabilities(&self) -> Capabilities {
        Vec::new()
    }

    fn calendar(&self) -> Option<&dyn crate::calendar::Calendar> {
        Some(self)
    }

    /// Finds the calendar home: the server answers CalDAV and takes the credentials.
    async fn validate(&self) -> Result<(), ApiError> {
        self.client.calendar_home().await.map(|_| ())
    }

    async fn metadata(&self, _: &ItemPath) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn list(&self, _: &ItemPath, _: u32, _: u32) -> Result<Page, ApiError> {
        Err(no_storage())
    }

    async fn list_all(&self, _: &ItemPath) -> Result<Vec<Entry>, ApiError> {
        Err(no_storage())
    }

    async fn create_folder(
        &self,
        _: &ItemPath,
        _: &str,
        _: bool,
    ) -> Result<(Entry, bool), ApiError> {
        Err(no_storage())
    }

    async fn remove(&self, _: &Entry, _: bool) -> Result<(), ApiError> {
        Err(no_storage())
    }

    async fn relocate(
        &self,
        _: &Entry,
        _: ItemKind,
        _: &ItemPath,
        _: bool,
    ) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn relocate_to(&self, _: &Entry, _: &ItemPath, _: bool) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn plan_download(&self, _: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        Err(no_storage())
    }

    async fn plan_upload(&self, _: &ItemPath, _: &str, _: bool) -> Result<TransferPlan, ApiError> {
        Err(no_storage())
    }

    async fn commit_upload(
        &self,
        _: &str,
        _: &ItemPath,
        _: &str,
        _: bool,
    ) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn abort_upload(&self, _: &str) -> Result<(), ApiError> {
        Err(no_storage())
    }
}

/// The properties a calendar is described by.
const CALENDAR_PROPS: &str = "<d:resourcetype/><d:displayname/><c:calendar-description/>\
<c:calendar-timezone/><c:supported-calendar-component-set/>";

#[async_trait]
impl crate::calendar::Calendar for Caldav {
    /// The collections of the calendar home that are calendars holding events.
    async fn calendars(&self) -> Result<Vec<crate::calendar::CalendarInfo>, ApiError> {
        let home = self.client.calendar_home().await?;
        let found = self.client.propfind(&home, "1", CALENDAR_PROPS).await?;
        Ok(found
            .iter()
            .filter(|r| is_event_calendar(r))
            .map(calendar_info)
            .collect())
    }
}

impl Caldav {
    /// The account on a server, as its [`client::Client`] reaches it.
    pub fn new(client: client::Client) -> Self {
        Self { client }
    }
}

/// Whether a collection is a calendar that can hold events (one that lists no
/// components holds all of them, RFC 4791 §5.2.3).
fn is_event_calendar(r: &xml::Response) -> bool {
    let calendar = r
        .props
        .get("resourcetype")
        .is_some_and(|t| t.children.iter().any(|c| c == "calendar"));
    let comps = r
        .props
        .get("supported-calendar-component-set")
        .map(|p| p.comps.as_slice())
        .unwrap_or_default();
    calendar && (comps.is_empty() || comps.iter().any(|c| c.eq_ignore_ascii_case("VEVENT")))
}

fn calendar_info(r: &xml::Response) -> crate::calendar::CalendarInfo {
    let segment = r
        .href
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let segment = percent_decode(segment);
    crate::calendar::CalendarInfo {
        native_id: r.href.clone(),
        name: r.text("displayname").map(str::to_string).unwrap_or(segment),
        description: r.text("calendar-description").map(str::to_string),
        timezone: r.text("calendar-timezone").and_then(vtimezone_id),
    }
}

/// `%xx` sequences decoded (invalid UTF-8 replaced).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The `TZID` of the first `VTIMEZONE` of an iCalendar text.
fn vtimezone_id(ical: &str) -> Option<String> {
    ical.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("TZID:"))
        .map(str::to_string)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendars_are_named_by_their_display_name_or_path() {
        let body = r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<response><href>/cal/</href><propstat><prop><resourcetype><collection/></resourcetype></prop>
<status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/cal/work%20%C3%BC/</href><propstat><prop>
<resourcetype><collection/><C:calendar/></resourcetype>
<C:calendar-timezone>BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:Europe/Berlin
END:VTIMEZONE
END:VCALENDAR</C:calendar-timezone></prop>
<status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/cal/tasks/</href><propstat><prop>
<resourcetype><collection/><C:calendar/></resourcetype><displayname>Tasks</displayname>
<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>
</prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#;
        let found = xml::multistatus(body).unwrap();
        let calendars: Vec<_> = found
            .iter()
            .filter(|r| is_event_calendar(r))
            .map(calendar_info)
            .collect();
        assert_eq!(calendars.len(), 1, "{calendars:?}");
        assert_eq!(calendars[0].name, "work ü");
        assert_eq!(calendars[0].native_id, "/cal/work%20%C3%BC/");
        assert_eq!(calendars[0].timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(percent_decode("100%"), "100%");
    }
}
