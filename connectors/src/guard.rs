//! Connections to the hosts of imported accounts (S3 `endpoint`, WebDAV `url`, SFTP
//! `host`), which API-key holders choose: they reach only what the operator's address
//! policy ([`netguard::Policy`], `network.account_allow`) permits, checked on every
//! connection, not once. HTTP clients resolve names through a filtering resolver, check
//! IP-literal hosts before sending and on every redirect, and never use a proxy from the
//! environment (which would connect on their behalf, unchecked); SSH connects to the
//! addresses that were checked.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use cloudbridge_shared::{netguard, ApiError};

/// Most redirects an account's HTTP server may send a request through.
const MAX_REDIRECTS: usize = 5;

/// The address policy of account connections and the HTTP clients that apply it. Cheap to
/// clone; one per process.
#[derive(Clone, Debug)]
pub struct Guard {
    policy: netguard::Policy,
    http: reqwest::Client,
    dal: opendal::HttpTransporter,
}

impl Guard {
    /// Clients for account hosts that `policy` permits.
    pub fn new(policy: netguard::Policy) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .dns_resolver(netguard::Resolver::new(&policy))
            .redirect(netguard::redirects(&policy, MAX_REDIRECTS))
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        let resolver = DalResolver(netguard::Resolver::new(&policy));
        let checked = policy.clone();
        let dal = reqwest_dal::Client::builder()
            .dns_resolver(Arc::new(resolver))
            .redirect(reqwest_dal::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match netguard::check_url(attempt.url(), &checked) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            }))
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let dal = opendal::HttpTransporter::new(
            opendal_http_transport_reqwest::ReqwestTransport::new(dal),
        );
        Ok(Self { policy, http, dal })
    }

    /// The address policy.
    pub fn policy(&self) -> &netguard::Policy {
        &self.policy
    }

    /// The HTTP client for account hosts (presigned transfers, streamed WebDAV uploads).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `op` sending its requests through the guarded transport.
    pub fn operator(&self, op: opendal::Operator) -> opendal::Operator {
        let ctx = op.context().with_http_transport(self.dal.clone());
        op.with_context(ctx)
    }

    /// Checks an account's HTTP URL as far as it can be without a lookup (an IP-literal
    /// host); names are checked by the clients when they connect.
    pub fn check_url(&self, raw: &str, what: &str) -> Result<url::Url, ApiError> {
        let url = url::Url::parse(raw)
            .map_err(|_| ApiError::invalid_parameters(format!("`{what}` is not a valid URL.")))?;
        netguard::check_url(&url, &self.policy).map_err(|r| refused(what, r))?;
        Ok(url)
    }

    /// Checks an account's HTTP URL with its host resolved (at import: a clear answer
    /// before anything is stored).
    pub async fn check_url_resolved(&self, raw: &str, what: &str) -> Result<(), ApiError> {
        let url = self.check_url(raw, what)?;
        netguard::addresses(&url, &self.policy)
            .await
            .map_err(|r| refused(what, r))?;
        Ok(())
    }

    /// The permitted addresses of `host:port`, to connect to (no second lookup).
    pub async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ApiError> {
        netguard::lookup(host, port, &self.policy)
            .await
            .map_err(|r| refused("host", r))
    }
}

/// The Kloudless error for an account host the policy refuses.
fn refused(what: &str, refusal: netguard::Refusal) -> ApiError {
    ApiError::invalid_parameters(format!("`{what}`: {refusal}"))
}

/// [`netguard::Resolver`] for OpenDAL's reqwest (another major version than ours).
struct DalResolver(Arc<netguard::Resolver>);

impl reqwest_dal::dns::Resolve for DalResolver {
    fn resolve(&self, name: reqwest_dal::dns::Name) -> reqwest_dal::dns::Resolving {
        let resolver = self.0.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolver.resolve_name(&name).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest_dal::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn account_hosts_are_refused_unless_allowed() {
        let guard = Guard::new(netguard::Policy::public_only()).unwrap();
        for url in [
            "http://127.0.0.1:9000",
            "http://169.254.169.254/latest",
            "http://[::127.0.0.1]:9000",
            "http://[::ffff:0:127.0.0.1]:9000",
            "http://localhost:9000",
        ] {
            let e = guard.check_url_resolved(url, "endpoint").await.unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "invalid_parameters"));
            assert!(e.message.contains("private"), "{url}: {e}");
        }
        assert!(guard.addresses("localhost", 22).await.is_err());
        let allowed = Guard::new(netguard::Policy::new(&["127.0.0.0/8".parse().unwrap()])).unwrap();
        allowed
            .check_url_resolved("http://127.0.0.1:9000", "endpoint")
            .await
            .unwrap();
        assert_eq!(
            allowed.addresses("127.0.0.1", 22).await.unwrap(),
            vec!["127.0.0.1:22".parse().unwrap()]
        );
    }
}
