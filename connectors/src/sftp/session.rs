//! Connecting to an SFTP server: TCP, the host key check (trust on first use, then pinned),
//! password or public-key authentication, the `sftp` subsystem, and a small per-process
//! cache of live sessions so consecutive calls for one account reuse one SSH connection.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

use cloudbridge_shared::{protocol::AccountRef, ApiError, ItemPath};
use russh::{
    client,
    keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate},
};
use russh_sftp::{
    client::{error::Error as SftpError, rawsession::Limits, RawSftpSession},
    protocol::StatusCode,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{SftpConfig, SftpSecrets};
use crate::guard::Guard;

/// How long connecting (TCP, key exchange and authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one SFTP request may wait for its answer.
const REQUEST_TIMEOUT_SECS: u64 = 30;
/// Cached sessions unused for this long are closed.
const IDLE: Duration = Duration::from_secs(120);
/// Most sessions kept open per process.
const MAX_CACHED: usize = 32;
/// Most handles open at once on one session. Handles travel as strings in `russh-sftp`,
/// and OpenSSH numbers them from 0: below 128 they stay valid UTF-8.
const MAX_HANDLES: usize = 64;
/// Largest read or write request sent (OpenSSH accepts 255 KiB; the protocol promises 32 KiB).
const MAX_IO: u64 = 128 * 1024;

/// A live SFTP session of one account.
pub struct Conn {
    ssh: client::Handle<HostKeyCheck>,
    sftp: RawSftpSession,
    /// The account's root folder on the server, absolute, without a trailing `/`
    /// (empty for the server's `/`).
    root: String,
    /// Whether the server renames over an existing file on request
    /// (`posix-rename@openssh.com`).
    posix_rename: bool,
    read_len: u32,
    write_len: u32,
    handles: Arc<Semaphore>,
}

impl Conn {
    /// The raw SFTP session.
    pub fn sftp(&self) -> &RawSftpSession {
        &self.sftp
    }

    /// The server path of an item of the account.
    pub fn full(&self, path: &ItemPath) -> String {
        server_path(&self.root, path)
    }

    /// Size of one read request.
    pub fn read_len(&self) -> u32 {
        self.read_len
    }

    /// Size of one write request.
    pub fn write_len(&self) -> u32 {
        self.write_len
    }

    /// Whether [`Conn::rename_over`] replaces atomically.
    pub fn posix_rename(&self) -> bool {
        self.posix_rename
    }

    /// A slot for one more open handle (waits while too many are open).
    pub async fn handle_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.handles
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)
    }

    /// Renames `from` to `to`, replacing a file at `to` in one step
    /// (`posix-rename@openssh.com`; needs [`Conn::posix_rename`]).
    pub async fn rename_over(&self, from: &str, to: &str) -> Result<(), SftpError> {
        let mut data = Vec::with_capacity(8 + from.len() + to.len());
        for s in [from, to] {
            data.extend_from_slice(&(s.len() as u32).to_be_bytes());
            data.extend_from_slice(s.as_bytes());
        }
        match self.sftp.extended("posix-rename@openssh.com", data).await? {
            russh_sftp::protocol::Packet::Status(s) if s.status_code == StatusCode::Ok => Ok(()),
            russh_sftp::protocol::Packet::Status(s) => Err(SftpError::Status(s)),
            _ => Err(SftpError::UnexpectedPacket),
        }
    }

    fn is_closed(&self) -> bool {
        self.ssh.is_closed()
    }
}

/// `path` under `root` (absolute, no trailing `/`, empty for `/`).
fn server_path(root: &str, path: &ItemPath) -> String {
    match (path.is_root(), root.is_empty()) {
        (true, true) => "/".to_string(),
        (true, false) => root.to_string(),
        (false, _) => format!("{root}/{}", path.as_str()),
    }
}

/// Checks the server's host key against the pinned fingerprint and remembers what it saw.
pub struct HostKeyCheck {
    expected: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

/// `SHA256:…` fingerprint of a server key, as `ssh-keygen -l` prints it.
fn fingerprint(key: &PublicKeyOrCertificate) -> String {
    match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256),
        PublicKeyOrCertificate::Certificate(cert) => cert.public_key().fingerprint(HashAlg::Sha256),
    }
    .to_string()
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let seen = fingerprint(key);
        let ok = self.expected.as_deref().is_none_or(|e| e == seen);
        *self.seen.lock().expect("host key lock") = Some(seen);
        Ok(ok)
    }
}

fn ssh_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(IDLE + Duration::from_secs(60)),
        keepalive_interval: Some(Duration::from_secs(30)),
        nodelay: true,
        ..Default::default()
    })
}

fn unavailable(message: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        503,
        "service_not_available",
        format!("The SFTP server is unreachable: {message}"),
    )
}

fn unauthorized() -> ApiError {
    ApiError::new(
        401,
        "service_unauthorized",
        "The SFTP server refused the account's credentials.",
    )
}

/// Maps a failure to set up the SSH connection.
fn connect_error(e: russh::Error, expected: Option<&str>, seen: Option<String>) -> ApiError {
    tracing::warn!(error = %e, "SFTP connection failed");
    match e {
        russh::Error::UnknownKey => ApiError::new(
            502,
            "bad_gateway",
            format!(
                "The SFTP server's host key changed (pinned {}, offered {}): refusing to \
                 connect. Import the account again if the change is expected.",
                expected.unwrap_or("none"),
                seen.as_deref().unwrap_or("none"),
            ),
        ),
        russh::Error::IO(io) => unavailable(io),
        russh::Error::ConnectionTimeout | russh::Error::HUP | russh::Error::Disconnect => {
            unavailable(e)
        }
        other => ApiError::new(
            502,
            "bad_gateway",
            format!("The SSH connection failed: {other}"),
        ),
    }
}

/// Opens the SSH connection (TCP and key exchange, no authentication yet) to the host's
/// addresses that `guard` permits (resolved once, here; the connection uses those).
async fn handshake(
    config: &SftpConfig,
    guard: &Guard,
) -> Result<(client::Handle<HostKeyCheck>, String), ApiError> {
    let addrs = guard.addresses(&config.host, config.port).await?;
    let seen = Arc::new(Mutex::new(None));
    let check = HostKeyCheck {
        expected: config.host_key.clone(),
        seen: seen.clone(),
    };
    let connected = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client::connect(ssh_config(), &addrs[..], check),
    )
    .await
    .map_err(|_| unavailable("connection timed out"))?;
    let seen = seen.lock().expect("host key lock").clone();
    let ssh = connected.map_err(|e| connect_error(e, config.host_key.as_deref(), seen.clone()))?;
    let seen = seen.ok_or_else(|| ApiError::internal("SSH server key not checked"))?;
    Ok((ssh, seen))
}

/// The server's host key fingerprint (`SHA256:…`), to pin at import; the host must be one
/// `guard` permits.
pub async fn host_key(host: &str, port: u16, guard: &Guard) -> Result<String, ApiError> {
    let config = SftpConfig {
        host: host.to_string(),
        port,
        username: String::new(),
        root: None,
        host_key: None,
    };
    let (ssh, seen) = handshake(&config, guard).await?;
    let _ = ssh
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(seen)
}

/// Parses a private key (OpenSSH, PEM or PuTTY text), with its passphrase if it has one.
pub fn parse_private_key(
    text: &str,
    passphrase: Option<&str>,
) -> Result<russh::keys::PrivateKey, ApiError> {
    russh::keys::decode_secret_key(text, passphrase)
        .map_err(|e| ApiError::invalid_parameters(format!("`private_key` cannot be read: {e}")))
}

async fn authenticate(
    ssh: &mut client::Handle<HostKeyCheck>,
    config: &SftpConfig,
    secrets: &SftpSecrets,
) -> Result<(), ApiError> {
    let failed = |e: russh::Error| connect_error(e, None, None);
    if let Some(text) = &secrets.private_key {
        let key = parse_private_key(text, secrets.passphrase.as_deref())?;
        let hash = if key.algorithm().is_rsa() {
            ssh.best_supported_rsa_hash()
                .await
                .map_err(failed)?
                .flatten()
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let result = ssh
            .authenticate_publickey(&config.username, key)
            .await
            .map_err(failed)?;
        if result.success() {
            return Ok(());
        }
    }
    if let Some(password) = &secrets.password {
        let result = ssh
            .authenticate_password(&config.username, password)
            .await
            .map_err(failed)?;
        if result.success() {
            return Ok(());
        }
    }
    Err(unauthorized())
}

/// Connects, authenticates and starts the `sftp` subsystem.
async fn connect(
    config: &SftpConfig,
    secrets: &SftpSecrets,
    guard: &Guard,
) -> Result<Conn, ApiError> {
    let (mut ssh, _) = handshake(config, guard).await?;
    tokio::time::timeout(CONNECT_TIMEOUT, authenticate(&mut ssh, config, secrets))
        .await
        .map_err(|_| unavailable("authentication timed out"))??;
    let channel_failed = |e: russh::Error| connect_error(e, None, None);
    let channel = ssh.channel_open_session().await.map_err(channel_failed)?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(channel_failed)?;
    let mut sftp = RawSftpSession::new_with_config(
        channel.into_stream(),
        russh_sftp::client::Config {
            request_timeout_secs: REQUEST_TIMEOUT_SECS,
            ..Default::default()
        },
    );
    let version = sftp.init().await.map_err(sftp_error)?;
    let has = |name: &str, v: &str| version.extensions.get(name).is_some_and(|x| x == v);
    let mut limits = Limits::default();
    if has("limits@openssh.com", "1") {
        limits = Limits::from(sftp.limits().await.map_err(sftp_error)?);
        sftp.set_limits(limits);
    }
    // Read and write requests below the server's limits (32 KiB is always allowed).
    let io_len = |limit: Option<u64>| limit.map_or(32 * 1024, |l| l.min(MAX_IO)) as u32;
    let root = config.root.as_deref().unwrap_or("").trim();
    let root = if root.is_empty() { "." } else { root };
    let resolved = sftp.realpath(root).await.map_err(|e| match e {
        SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile => {
            ApiError::invalid_parameters(format!("The root folder `{root}` does not exist."))
        }
        e => sftp_error(e),
    })?;
    let root = resolved
        .files
        .first()
        .map(|f| f.filename.trim_end_matches('/').to_string())
        .ok_or_else(|| sftp_error(SftpError::UnexpectedPacket))?;
    Ok(Conn {
        ssh,
        sftp,
        root,
        posix_rename: has("posix-rename@openssh.com", "1"),
        read_len: io_len(limits.read_len),
        write_len: io_len(limits.write_len),
        handles: Arc::new(Semaphore::new(MAX_HANDLES)),
    })
}

/// Maps an SFTP failure to the Kloudless error the caller should see.
pub fn sftp_error(e: SftpError) -> ApiError {
    match e {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => ApiError::not_found("No such file or folder."),
            StatusCode::PermissionDenied => {
                ApiError::forbidden("The SFTP server denied the account access to this item.")
            }
            StatusCode::NoConnection | StatusCode::ConnectionLost => unavailable(s.status_code),
            code => {
                tracing::warn!(status = %code, message = %s.error_message, "SFTP request failed");
                ApiError::new(
                    502,
                    "bad_gateway",
                    format!("The SFTP server failed: {code}: {}", s.error_message),
                )
            }
        },
        SftpError::Timeout => unavailable("request timed out"),
        // The channel under the session is gone (closed, or its sender dropped).
        SftpError::IO(e) | SftpError::UnexpectedBehavior(e) => unavailable(e),
        other => {
            tracing::warn!(error = %other, "SFTP session failed");
            ApiError::new(
                502,
                "bad_gateway",
                format!("The SFTP session failed: {other}"),
            )
        }
    }
}

struct Cached {
    conn: Arc<Conn>,
    used: Instant,
}

static CACHE: LazyLock<Mutex<HashMap<[u8; 32], Cached>>> = LazyLock::new(Default::default);

/// A session for an account: a live cached one, or a new one (then cached), on a server
/// `guard` permits.
pub async fn session(
    account: &AccountRef,
    config: &SftpConfig,
    secrets: &SftpSecrets,
    guard: &Guard,
) -> Result<Arc<Conn>, ApiError> {
    if account.id == 0 {
        // An account being imported: checked once, not kept.
        return Ok(Arc::new(connect(config, secrets, guard).await?));
    }
    let key = crate::cache::guarded_key(account, guard.policy());
    {
        let mut cache = CACHE.lock().expect("sftp cache lock");
        let now = Instant::now();
        cache.retain(|_, c| !c.conn.is_closed() && now.duration_since(c.used) < IDLE);
        if let Some(c) = cache.get_mut(&key) {
            c.used = now;
            return Ok(c.conn.clone());
        }
    }
    let conn = Arc::new(connect(config, secrets, guard).await?);
    let mut cache = CACHE.lock().expect("sftp cache lock");
    if cache.len() >= MAX_CACHED {
        if let Some(oldest) = cache.iter().min_by_key(|(_, c)| c.used).map(|(k, _)| *k) {
            cache.remove(&oldest);
        }
    }
    cache.insert(
        key,
        Cached {
            conn: conn.clone(),
            used: Instant::now(),
        },
    );
    Ok(conn)
}

/// Drops the cached session of an account (after its connection failed).
pub fn forget(account: &AccountRef, guard: &Guard) {
    CACHE
        .lock()
        .expect("sftp cache lock")
        .remove(&crate::cache::guarded_key(account, guard.policy()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_stay_under_the_root() {
        let docs = ItemPath::parse("Docs & ü #?%/a b.txt").unwrap();
        assert_eq!(
            server_path("/srv/team", &docs),
            "/srv/team/Docs & ü #?%/a b.txt"
        );
        assert_eq!(server_path("", &docs), "/Docs & ü #?%/a b.txt");
        assert_eq!(server_path("/srv/team", &ItemPath::root()), "/srv/team");
        assert_eq!(server_path("", &ItemPath::root()), "/");
    }

    #[test]
    fn unreadable_keys_are_invalid_parameters() {
        let e = parse_private_key("not a key", None).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "invalid_parameters"));
    }
}
