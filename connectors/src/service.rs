//! What Cloudbridge knows about each storage service, in one place: a [`Service`]
//! descriptor per service, exported by the service's own connector module
//! ([`gdrive::SERVICE`](crate::gdrive::SERVICE), [`s3::COMPATIBLE`](crate::s3::COMPATIBLE),
//! …), and [`ALL`], the one list of them. The rest of the code (import, the connect
//! page, service keys, the picker, the portal, the workers) reads these descriptors
//! rather than matching on service names, so adding a service is its module and a line
//! in [`ALL`].

use cloudbridge_shared::{
    config::{ProviderSettings, ProvidersSettings},
    protocol::AccountRef,
    ApiError, Entry,
};
use futures::future::BoxFuture;

use crate::{oauth, Context, Storage};

/// Every service this build connects, in the order lists show them.
pub static ALL: &[&Service] = &[
    &crate::local::SERVICE,
    &crate::s3::SERVICE,
    &crate::s3::COMPATIBLE,
    &crate::webdav::SERVICE,
    &crate::sftp::SERVICE,
    &crate::gdrive::SERVICE,
    &crate::onedrive::SERVICE,
    &crate::onedrive::BUSINESS,
    &crate::dropbox::SERVICE,
    &crate::boxcom::SERVICE,
    &crate::caldav::SERVICE,
];

/// The capabilities of a connector: the storage basics every one has (rename/move/copy,
/// search by name (the service's own index where it has one, else a bounded crawl),
/// multipart uploads (parts staged by the API tier), shared links), and whether it makes
/// thumbnails, serves sharing permissions and lists a folder's whole subtree in one paged
/// listing (`recursive=true` on folder contents; [`crate::Storage::subtree_batch`]).
macro_rules! capabilities {
    (thumbnails: $thumbnails:expr, sharing: $sharing:expr, recursive: $recursive:expr) => {
        &[
            ("can_upload_file", true),
            ("can_create_folder", true),
            ("can_delete_file", true),
            ("can_delete_folder", true),
            ("can_download_file", true),
            ("can_rename_file", true),
            ("can_move_file", true),
            ("can_copy_file", true),
            ("can_search_file_name", true),
            ("can_list_recent_files", true),
            ("can_create_link", true),
            ("can_get_thumbnail", $thumbnails),
            ("multipart_uploads_supported_for_files", true),
            // Kloudless names the capability of `/permissions` `permissions_supported_for_files`.
            ("permissions_supported_for_files", $sharing),
            ("permissions_supported_for_folders", $sharing),
            // As Kloudless folders say it (`can_list_recursively`).
            (RECURSIVE_LISTING, $recursive),
        ]
    };
}

/// The capability of listing a folder's whole subtree (`recursive=true`).
pub const RECURSIVE_LISTING: &str = "can_list_recursively";

/// The basics alone (WebDAV, SFTP).
pub const BASIC_CAPABILITIES: &[(&str, bool)] =
    capabilities!(thumbnails: false, sharing: false, recursive: false);

/// The basics and recursive listings: object stores (S3), listed without a delimiter.
pub const OBJECT_STORE_CAPABILITIES: &[(&str, bool)] =
    capabilities!(thumbnails: false, sharing: false, recursive: true);

/// The basics and thumbnails (`local`).
pub const WITH_THUMBNAILS: &[(&str, bool)] =
    capabilities!(thumbnails: true, sharing: false, recursive: false);

/// The basics, thumbnails and sharing permissions: the OAuth file services.
pub const CLOUD_CAPABILITIES: &[(&str, bool)] =
    capabilities!(thumbnails: true, sharing: true, recursive: false);

/// Those of the OAuth file services, and recursive listings (Dropbox's
/// `list_folder` with `recursive`).
pub const CLOUD_RECURSIVE_CAPABILITIES: &[(&str, bool)] =
    capabilities!(thumbnails: true, sharing: true, recursive: true);

/// True when `service` lists a folder's whole subtree in one paged listing.
pub fn lists_recursively(service: &str) -> bool {
    find(service).is_some_and(|s| {
        s.capabilities
            .iter()
            .any(|&(name, on)| name == RECURSIVE_LISTING && on)
    })
}

/// One storage service: its names, how its accounts are connected, what it can do, and
/// how its connector is opened.
#[derive(Debug)]
pub struct Service {
    /// The canonical name, stored with accounts and shown in the API (`gdrive`).
    pub name: &'static str,
    /// Other names clients send for it, canonicalised to [`Service::name`] wherever a
    /// service name comes in (Kloudless called OneDrive `skydrive`).
    pub aliases: &'static [&'static str],
    /// The friendly name (`Google Drive`), the Kloudless `service_name`.
    pub display_name: &'static str,
    /// The Kloudless APIs its accounts answer.
    pub apis: &'static [Api],
    /// How the File Picker files it.
    pub category: Category,
    /// How an account of it is connected.
    pub connect: Connect,
    /// What it supports (Kloudless capability names), without opening an account.
    pub capabilities: &'static [(&'static str, bool)],
    /// Where its uploads wait for their commit.
    pub staging: Staging,
    /// The background colour of its logo tile in the picker (`#rrggbb`).
    pub colour: &'static str,
    /// Builds the connector of one of its accounts.
    pub open: OpenFn,
    /// An item's identity at the service beyond its path (see [`crate::item_key`]).
    pub item_key: fn(&Entry) -> Option<String>,
    /// Items are named by the service's own ids, which Kloudless ids are made of
    /// (renames and moves keep them; see [`crate::Storage::locate`]); else by path.
    pub names_by_id: bool,
}

/// Builds the connector of an account (of the service whose descriptor holds it).
pub type OpenFn = fn(&Context, &AccountRef) -> Result<Box<dyn Storage>, ApiError>;

/// Asks an OAuth service who holds the token `api` calls with.
pub type IdentityFn =
    for<'a> fn(&'a oauth::Api, &'a ProviderSettings) -> BoxFuture<'a, Result<Identity, ApiError>>;

/// A Kloudless API family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Files and folders (`storage`).
    Storage,
    /// Calendars and their events (`calendar`).
    Calendar,
}

impl Api {
    /// The name Kloudless gives it (in `apis` lists and scopes).
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Storage => "storage",
            Api::Calendar => "calendar",
        }
    }
}

/// How the File Picker files a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Folders of files (`file_store`).
    FileStore,
    /// Buckets of objects (`object_store`).
    ObjectStore,
    /// Calendars (`calendar`): never offered by the File Picker.
    Calendar,
}

impl Category {
    /// The picker's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::FileStore => "file_store",
            Category::ObjectStore => "object_store",
            Category::Calendar => "calendar",
        }
    }
}

/// How an account of a service is connected.
#[derive(Debug)]
pub enum Connect {
    /// Kept by the appliance itself (`local`): only an application's API key creates
    /// one, the hosted connect page never offers it.
    Embedded,
    /// With credentials the user types (keys, a password or a private key), checked
    /// against the service and stored sealed; the hosted connect page has a form for them.
    Credentials,
    /// With OAuth 2.0: the connect page sends the user to the service; the tokens are
    /// kept by [`oauth::Keeper`].
    OAuth(OAuth),
}

/// The OAuth facts of a service.
#[derive(Debug)]
pub struct OAuth {
    /// The provider whose settings (`providers.<key>`) and application client keys it
    /// uses: its own name, or another service's (`onedrivebiz` uses `onedrive`'s).
    pub provider: &'static str,
    /// Whether its authorization server takes PKCE (RFC 7636) challenges.
    pub pkce: bool,
    /// Extra authorization parameters it needs to issue a refresh token along with the
    /// access token.
    pub offline_access: &'static [(&'static str, &'static str)],
    /// Who a token belongs to (the connect flow names accounts by it, so that
    /// reconnecting the same user updates the same account).
    pub identity: IdentityFn,
}

/// Where a service's uploads wait between their plan and their commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staging {
    /// Under a hidden temporary name on the service itself, renamed into place at
    /// commit; the workers record them so housekeeping removes those never finished.
    HiddenFile,
    /// Nowhere on the service that needs cleaning up (the final name is written at
    /// once, or the bytes wait in the appliance or the service's own upload session).
    NotOnService,
}

/// Who an OAuth account belongs to at its service.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The service's stable id of the user.
    pub id: String,
    /// What people know the account by (e-mail or login), the Kloudless `account`.
    pub name: String,
}

impl Identity {
    /// A user known by `login` when it is an e-mail address, else by their stable `id`.
    pub fn by_login(id: String, login: String) -> Self {
        let name = if login.contains('@') {
            login
        } else {
            id.clone()
        };
        Self { id, name }
    }
}

impl Service {
    /// Its OAuth facts, if its accounts are connected with OAuth.
    pub fn oauth(&self) -> Option<&OAuth> {
        match &self.connect {
            Connect::OAuth(oauth) => Some(oauth),
            _ => None,
        }
    }

    /// Whether its accounts are connected with typed credentials.
    pub fn takes_credentials(&self) -> bool {
        matches!(self.connect, Connect::Credentials)
    }

    /// The provider settings of an OAuth service (`None` for the others).
    pub fn provider<'p>(&self, providers: &'p ProvidersSettings) -> Option<&'p ProviderSettings> {
        providers.get(self.oauth()?.provider)
    }

    /// Whether its accounts answer `api`.
    pub fn answers(&self, api: Api) -> bool {
        self.apis.contains(&api)
    }

    /// Whether `name` names it (its name or an alias).
    fn is_named(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }
}

/// The service `name` names (its canonical name or an alias).
pub fn find(name: &str) -> Option<&'static Service> {
    ALL.iter().copied().find(|s| s.is_named(name))
}

/// The services connected with OAuth, in [`ALL`]'s order.
pub fn oauth() -> impl Iterator<Item = &'static Service> {
    ALL.iter().copied().filter(|s| s.oauth().is_some())
}

/// The services connected with typed credentials, in [`ALL`]'s order.
pub fn credentials() -> impl Iterator<Item = &'static Service> {
    ALL.iter().copied().filter(|s| s.takes_credentials())
}

/// The [`Service::item_key`] of services where the path is all an item has.
pub fn no_item_key(_: &Entry) -> Option<String> {
    None
}

/// The [`Service::item_key`] of services with ids of their own (the OAuth services: kept
/// by moves and new versions, new for a new file), found as `id` in the raw item.
pub fn raw_id_key(entry: &Entry) -> Option<String> {
    let id = entry.raw.as_ref()?.get("id")?.as_str()?;
    Some(format!("id:{id}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_service_is_found_by_its_name_and_aliases() {
        for service in ALL {
            assert!(std::ptr::eq(find(service.name).unwrap(), *service));
            for alias in service.aliases {
                assert_eq!(find(alias).unwrap().name, service.name, "{alias}");
            }
        }
        assert_eq!(find("skydrive").unwrap().name, "onedrive");
        assert!(find("sharepoint").is_none());
        assert!(find("").is_none());
    }

    #[test]
    fn names_are_unique_and_aliases_name_nothing_else() {
        let names: HashSet<_> = ALL.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), ALL.len(), "a name twice");
        let mut aliases = HashSet::new();
        for alias in ALL.iter().flat_map(|s| s.aliases) {
            assert!(!names.contains(alias), "`{alias}` is a name and an alias");
            assert!(aliases.insert(alias), "`{alias}` is an alias twice");
        }
        let display: HashSet<_> = ALL.iter().map(|s| s.display_name).collect();
        assert_eq!(display.len(), ALL.len(), "a display name twice");
    }

    #[test]
    fn oauth_services_have_provider_settings() {
        let providers = cloudbridge_shared::config::Settings::default().providers;
        let oauth: Vec<_> = oauth().collect();
        assert!(!oauth.is_empty());
        for service in oauth {
            assert!(service.provider(&providers).is_some(), "{}", service.name);
            // The provider is itself a service that keeps its own keys.
            let owner = find(service.oauth().unwrap().provider).unwrap();
            assert_eq!(owner.oauth().unwrap().provider, owner.name);
        }
        for service in credentials() {
            assert!(service.provider(&providers).is_none(), "{}", service.name);
        }
        assert_eq!(
            find("onedrivebiz").unwrap().oauth().unwrap().provider,
            "onedrive"
        );
    }

    #[test]
    fn every_service_answers_an_api_and_has_a_colour() {
        for service in ALL {
            assert!(!service.apis.is_empty(), "{}", service.name);
            let calendars_only = service.apis == [Api::Calendar];
            assert!(
                service.answers(Api::Storage) || calendars_only,
                "{}",
                service.name
            );
            assert_eq!(
                service.category == Category::Calendar,
                calendars_only,
                "{}",
                service.name
            );
            let c = service.colour;
            assert!(
                c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: {c}",
                service.name
            );
        }
    }

    #[test]
    fn thumbnails_are_where_the_services_make_them() {
        let thumbnails = |s: &Service| {
            s.capabilities
                .iter()
                .any(|&(name, on)| name == "can_get_thumbnail" && on)
        };
        let with: Vec<_> = ALL
            .iter()
            .filter(|s| thumbnails(s))
            .map(|s| s.name)
            .collect();
        assert_eq!(
            with,
            [
                "local",
                "gdrive",
                "onedrive",
                "onedrivebiz",
                "dropbox",
                "box"
            ]
        );
        // Otherwise the same capabilities.
        assert_eq!(WITH_THUMBNAILS.len(), BASIC_CAPABILITIES.len());
        for (a, b) in WITH_THUMBNAILS.iter().zip(BASIC_CAPABILITIES) {
            assert_eq!(a.0, b.0);
            assert!(a.1 == b.1 || a.0 == "can_get_thumbnail");
        }
    }

    #[test]
    fn the_lists_keep_their_services_and_order() {
        let names = |it: &mut dyn Iterator<Item = &'static Service>| -> Vec<&str> {
            it.map(|s| s.name).collect()
        };
        assert_eq!(
            names(&mut oauth()),
            ["gdrive", "onedrive", "onedrivebiz", "dropbox", "box"]
        );
        assert_eq!(
            names(&mut credentials()),
            ["s3", "s3_compatible", "webdav", "sftp", "caldav"]
        );
        let staged: Vec<_> = ALL
            .iter()
            .filter(|s| s.staging == Staging::HiddenFile)
            .map(|s| s.name)
            .collect();
        assert_eq!(staged, ["webdav", "sftp", "gdrive"]);
    }
}
