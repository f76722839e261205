//! The certificate the HTTPS listeners present, re-read while they run. [`Certificates`]
//! is rustls' certificate resolver: every handshake takes the current certificate and key,
//! and a reload swaps them atomically, so connections already open keep theirs and new ones
//! get the new pair. The files are re-read on SIGHUP and when their modification time or
//! size changes (checked every [`POLL`]); a pair that does not load (unreadable, not PEM,
//! a key that is not the certificate's) is logged and the previous pair stays in use.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use anyhow::Context;
use arc_swap::ArcSwap;
use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio_util::sync::CancellationToken;

/// How often the files' modification times are looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// The certificate and key in force, and where they are read from.
pub struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for Certificates {
    // The key is not printed, only where it lives.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Loads the pair at `cert_path` / `key_path`; an error names the file at fault.
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
        provider: Arc<CryptoProvider>,
    ) -> anyhow::Result<Self> {
        let current = load_pair(cert_path, key_path, &provider)?;
        Ok(Self {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider,
            current: ArcSwap::from_pointee(current),
        })
    }

    /// Reads the files again and, when they load, puts the new pair in force.
    pub fn reload(&self) -> anyhow::Result<()> {
        let pair = load_pair(&self.cert_path, &self.key_path, &self.provider)?;
        self.current.store(Arc::new(pair));
        Ok(())
    }

    /// Reloads on SIGHUP and when the files change, until `stop` fires.
    pub fn watch(self: Arc<Self>, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut hangup = hangups();
            let mut seen = self.stamp();
            loop {
                let why = tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(POLL) => {
                        let now = self.stamp();
                        if now == seen {
                            continue;
                        }
                        // Noted before loading: a bad file is reported once, not every poll.
                        seen = now;
                        "the files changed"
                    }
                    Some(()) = recv(&mut hangup) => {
                        seen = self.stamp();
                        "SIGHUP"
                    }
                };
                match self.reload() {
                    Ok(()) => tracing::info!(
                        cert_path = %self.cert_path.display(),
                        reason = why,
                        "TLS certificate reloaded"
                    ),
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        reason = why,
                        "TLS certificate not reloaded; the previous one stays in use"
                    ),
                }
            }
        });
    }

    /// What tells a change of either file: modification time and length.
    fn stamp(&self) -> [Option<(SystemTime, u64)>; 2] {
        let stamp = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        };
        [stamp(&self.cert_path), stamp(&self.key_path)]
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// SIGHUP as a stream of wake-ups (none where signals cannot be had).
fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler; certificates reload on change only");
            None
        }
    }
}

async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// The chain in `cert_path` and the key in `key_path`, checked to belong together.
fn load_pair(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the TLS certificate {}", cert_path.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "the TLS certificate file {} holds no PEM certificate",
        cert_path.display()
    );
    // The error of a key file never quotes its contents.
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        anyhow::anyhow!(
            "reading the TLS private key {}: {}",
            key_path.display(),
            describe(&e)
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "the TLS private key {} does not go with the certificate {}",
            key_path.display(),
            cert_path.display()
        )
    })
}

/// A PEM error in words that hold no key material.
fn describe(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::NoItemsFound => "no PEM private key in it".into(),
        Error::Io(io) => io.to_string(),
        _ => "not a valid PEM private key".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, PEM.
    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn served(certs: &Certificates) -> Vec<u8> {
        certs.current.load().cert[0].to_vec()
    }

    #[test]
    fn a_bad_new_certificate_keeps_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let (first_cert, first_key) = pair("one.test");
        std::fs::write(&cert, &first_cert).unwrap();
        std::fs::write(&key, &first_key).unwrap();
        let certs = Certificates::load(&cert, &key, provider()).unwrap();
        let first = served(&certs);

        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnonsense\n").unwrap();
        assert!(certs.reload().is_err());
        assert_eq!(served(&certs), first);
        // A certificate whose key is still the old one's.
        let (second_cert, second_key) = pair("two.test");
        std::fs::write(&cert, &second_cert).unwrap();
        let e = format!("{:#}", certs.reload().unwrap_err());
        assert!(e.contains("does not go with"), "{e}");
        assert_eq!(served(&certs), first);

        std::fs::write(&key, &second_key).unwrap();
        certs.reload().unwrap();
        assert_ne!(served(&certs), first);
    }

    #[test]
    fn the_debug_form_holds_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let (c, k) = pair("one.test");
        std::fs::write(&cert, c).unwrap();
        std::fs::write(&key, &k).unwrap();
        let certs = Certificates::load(&cert, &key, provider()).unwrap();
        let shown = format!("{certs:?}");
        assert!(
            shown.contains("k.pem") && !shown.contains("PRIVATE"),
            "{shown}"
        );
    }
}
