//! The rustls server configuration of the HTTPS listeners: TLS 1.2 and 1.3 with the
//! aws-lc-rs provider (the one the HTTP clients already build), ALPN `h2` then `http/1.1`,
//! and the certificate from [`Certificates`], so a reload reaches every door at once.

use std::sync::Arc;

use cloudbridge_shared::config::TlsSettings;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::certs::Certificates;

/// HTTPS of the front doors: one configuration and one certificate for the API and the
/// portal. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Tls {
    config: Arc<ServerConfig>,
    certs: Arc<Certificates>,
}

impl Tls {
    /// Loads the certificate `settings` names; `None` when TLS is not configured. A file
    /// that is missing or unreadable, not PEM, or a key that is not the certificate's, is
    /// an error naming the file.
    pub fn from_settings(settings: &TlsSettings) -> anyhow::Result<Option<Self>> {
        let Some((cert_path, key_path)) = settings.files()? else {
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs = Arc::new(Certificates::load(cert_path, key_path, provider.clone())?);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Self {
            config: Arc::new(config),
            certs,
        }))
    }

    /// Re-reads the certificate on SIGHUP and when its files change, until `stop` fires.
    /// Call once per process, whatever the number of doors.
    pub fn watch(&self, stop: CancellationToken) {
        self.certs.clone().watch(stop);
    }

    /// The acceptor of an HTTPS listener.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }
}
