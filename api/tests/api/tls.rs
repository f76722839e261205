//! HTTPS on the API (`tls.cert_path` / `tls.key_path`): the official Python SDK over TLS
//! against a test CA, the plain port's redirect, HSTS, a certificate swapped while requests
//! run, and start-up errors for certificate and key files that do not load.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use cloudbridge_api::Application;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use reqwest::{redirect::Policy, Method};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{assert_error, Isolated, TestApp};

/// Longer than a certificate reload ever takes: only a hang gets here.
const FAILSAFE: Duration = Duration::from_secs(60);

/// A test certificate authority.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A leaf certificate and its key, PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Key {
    Ecdsa,
    Rsa,
}

impl Ca {
    fn new() -> Self {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Cloudbridge test CA");
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A leaf for `names` (and 127.0.0.1) with serial `serial`.
    fn leaf(&self, key: Key, serial: u64, names: &[&str]) -> Leaf {
        let key = match key {
            Key::Ecdsa => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            Key::Rsa => {
                KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap()
            }
        };
        let mut sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        sans.push("127.0.0.1".into());
        let mut params = CertificateParams::new(sans).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client that trusts only this CA (see [`trusting`]).
    fn client(&self) -> reqwest::Client {
        trusting(&self.pem)
    }
}

/// A client that trusts only the CA `pem`, keeps connections alive and follows no redirect.
fn trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .tls_info(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Where a test keeps its certificate files.
struct Files {
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl Files {
    fn new(ca: &Ca, leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = Self {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            ca: dir.path().join("ca.pem"),
            dir,
        };
        std::fs::write(&files.ca, &ca.pem).unwrap();
        files.install(leaf);
        files
    }

    /// Puts `leaf` in place the way a certificate manager does: a new file renamed over
    /// the old one, key first.
    fn install(&self, leaf: &Leaf) {
        replace(&self.key, &leaf.key_pem);
        // A chain: the leaf, then the CA (as an intermediate would be).
        replace(&self.cert, &format!("{}{}", leaf.cert_pem, self.ca_pem()));
    }

    fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.ca).unwrap()
    }

    fn settings(&self) -> impl FnOnce(&mut cloudbridge_shared::Settings) + 'static {
        let (cert, key) = (self.cert.clone(), self.key.clone());
        move |s| {
            s.tls.cert_path = Some(cert);
            s.tls.key_path = Some(key);
        }
    }
}

fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// An app serving `leaf` over HTTPS, its callers trusting `ca`.
async fn spawn(ca: &Ca, files: &Files) -> TestApp {
    TestApp::builder()
        .client(ca.client())
        .settings(files.settings())
        .spawn()
        .await
}

/// The leaf certificate a new connection to `base` is shown.
async fn presented(ca: &Ca, base: &str) -> Vec<u8> {
    let r = ca
        .client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("a TLS connection")
        .to_vec()
}

#[tokio::test]
async fn the_official_python_sdk_walks_an_account_over_https() {
    let ca = Ca::new();
    let files = Files::new(&ca, &ca.leaf(Key::Ecdsa, 1, &["localhost"]));
    let app = spawn(&ca, &files).await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let (key, id, token) = app.account().await;
    let bundle = files.ca.to_str().unwrap();
    crate::sdk::walk_at(
        &app.base,
        &key,
        id,
        &token,
        &[("REQUESTS_CA_BUNDLE", bundle), ("SSL_CERT_FILE", bundle)],
    )
    .await;
    drop(files.dir);
}

#[tokio::test]
async fn the_plain_port_redirects_reads_and_refuses_requests_with_a_body() {
    let ca = Ca::new();
    let files = Files::new(&ca, &ca.leaf(Key::Ecdsa, 1, &["localhost"]));
    let app = spawn(&ca, &files).await;
    let plain = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let dev = format!("DeveloperKey {}", app.developer_key);

    // A read: 308 to the same path and query on the HTTPS port, which answers it.
    let r = plain
        .get(format!("{}/v1/applications?page_size=5", app.plain_base))
        .header("Authorization", &dev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("{}/v1/applications?page_size=5", app.base)
    );
    let followed = app
        .client
        .get(&location)
        .header("Authorization", &dev)
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 200);
    let r = plain
        .head(format!("{}/v1/applications", app.plain_base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);

    // A body, or a method that changes something: told to use HTTPS, never redirected.
    let r = plain
        .post(format!("{}/v1/applications", app.plain_base))
        .header("Authorization", &dev)
        .json(&serde_json::json!({"name": "in clear"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("location").is_none());
    let body = assert_error(r, 403, "https_required").await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("HTTPS"), "{message}");
    assert!(message.contains(&app.base), "{message}");
    let r = plain
        .delete(format!("{}/v1/applications/x", app.plain_base))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "https_required").await;
    let apps: Value = app.dev_caller().get_json("/v1/applications").await;
    assert!(!apps.to_string().contains("in clear"), "{apps}");

    // Probes and metrics stay on the plain port, without HSTS.
    for path in ["/health", "/ready", "/metrics"] {
        let r = plain
            .get(format!("{}{path}", app.plain_base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().get("strict-transport-security").is_none());
    }
}

#[tokio::test]
async fn a_trusted_proxy_that_terminated_tls_is_served_on_the_plain_port() {
    let ca = Ca::new();
    let files = Files::new(&ca, &ca.leaf(Key::Ecdsa, 1, &["localhost"]));
    let tls = files.settings();
    let app = TestApp::builder()
        .client(ca.client())
        .settings(move |s| {
            tls(s);
            s.api.trusted_proxies = crate::helpers::loopback_networks();
        })
        .spawn()
        .await;
    let r = reqwest::Client::new()
        .get(format!("{}/v1/applications", app.plain_base))
        .header(
            "Authorization",
            format!("DeveloperKey {}", app.developer_key),
        )
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn https_answers_carry_hsts_and_https_links() {
    let ca = Ca::new();
    let files = Files::new(&ca, &ca.leaf(Key::Ecdsa, 1, &["localhost"]));
    let app = spawn(&ca, &files).await;
    let r = app.request(Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    // Errors too.
    let r = app
        .request(Method::GET, "/v1/nowhere")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    // Links made over HTTPS point at HTTPS (`api.public_url` unset).
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token).under(crate::helpers::STORAGE);
    let file: Value = a.upload("root", "f.txt", "hi").await.json().await.unwrap();
    let r = a
        .post_json("/links", &serde_json::json!({"file_id": file["id"]}))
        .await;
    assert_eq!(r.status(), 201);
    let link: Value = r.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/", app.base)), "{url}");
}

#[tokio::test]
async fn a_new_certificate_is_served_without_a_failed_request() {
    let ca = Ca::new();
    let first = ca.leaf(Key::Ecdsa, 1, &["localhost"]);
    let second = ca.leaf(Key::Ecdsa, 2, &["localhost", "api.cloudbridge.test"]);
    let files = Files::new(&ca, &first);
    let app = spawn(&ca, &files).await;
    assert_eq!(presented(&ca, &app.base).await, first.der);

    // Requests in a loop: on kept-alive connections and on new ones.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut loops = Vec::new();
    for fresh in [false, false, true] {
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        let kept = app.dev_caller();
        let pem = ca.pem.clone();
        let url = format!("{}/v1/applications", app.base);
        let key = format!("DeveloperKey {}", app.developer_key);
        loops.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let ok = if fresh {
                    // A new client: a new connection and handshake every time.
                    let r = trusting(&pem)
                        .get(&url)
                        .header("Authorization", &key)
                        .send()
                        .await;
                    r.is_ok_and(|r| r.status() == 200)
                } else {
                    kept.get("/v1/applications").await.status() == 200
                };
                let counter = if ok { &served } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let before = served.load(Ordering::Relaxed);
    files.install(&second);
    let swapped = tokio::time::timeout(FAILSAFE, async {
        while presented(&ca, &app.base).await != second.der {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(swapped.is_ok(), "the new certificate was never served");
    // Some more requests after the swap, then stop.
    let after = served.load(Ordering::Relaxed);
    while served.load(Ordering::Relaxed) < after + 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(served.load(Ordering::Relaxed) > before);
    assert_eq!(presented(&ca, &app.base).await, second.der);
}

#[tokio::test]
async fn ecdsa_and_rsa_keys_in_every_pem_form_load() {
    let ca = Ca::new();
    let iso = Isolated::new().await;
    for (key, form) in [
        (Key::Ecdsa, None),
        (Key::Ecdsa, Some("SEC1")),
        (Key::Rsa, None),
        (Key::Rsa, Some("PKCS#1")),
    ] {
        let mut leaf = ca.leaf(key, 7, &["localhost"]);
        if form.is_some() {
            leaf.key_pem = traditional(&leaf.key_pem);
        }
        let files = Files::new(&ca, &leaf);
        let mut settings = iso.settings.clone();
        files.settings()(&mut settings);
        let stop = CancellationToken::new();
        let app = Application::build(settings, stop.clone()).await.unwrap();
        let base = format!("https://127.0.0.1:{}", app.tls_port().unwrap());
        tokio::spawn(app.run_until_stopped());
        assert_eq!(presented(&ca, &base).await, leaf.der, "{form:?}");
        stop.cancel();
    }
}

/// A PKCS#8 key in its algorithm's own PEM form (SEC1 for EC, PKCS#1 for RSA), by openssl.
fn traditional(pkcs8: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["pkey", "-traditional"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (apt-get install openssl)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pkcs8.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let pem = String::from_utf8(out.stdout).unwrap();
    assert!(
        pem.contains("BEGIN EC PRIVATE KEY") || pem.contains("BEGIN RSA PRIVATE KEY"),
        "{pem}"
    );
    pem
}

#[tokio::test]
async fn certificate_and_key_files_that_do_not_load_stop_the_start() {
    let ca = Ca::new();
    let leaf = ca.leaf(Key::Ecdsa, 1, &["localhost"]);
    let other = ca.leaf(Key::Rsa, 2, &["localhost"]);
    let files = Files::new(&ca, &leaf);
    let iso = Isolated::new().await;
    let start = |cert: &Path, key: &Path| {
        let mut settings = iso.settings.clone();
        settings.tls.cert_path = Some(cert.to_path_buf());
        settings.tls.key_path = Some(key.to_path_buf());
        async move {
            match Application::build(settings, CancellationToken::new()).await {
                Ok(_) => panic!("started"),
                Err(e) => format!("{e:#}"),
            }
        }
    };
    let missing = files.dir.path().join("missing-key.pem");
    let e = start(&files.cert, &missing).await;
    assert!(e.contains(missing.to_str().unwrap()), "{e}");
    let e = start(&files.dir.path().join("missing-cert.pem"), &files.key).await;
    assert!(e.contains("missing-cert.pem"), "{e}");

    let garbage = files.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let e = start(&files.cert, &garbage).await;
    assert!(e.contains(garbage.to_str().unwrap()), "{e}");
    // The certificate's file where the key belongs: no key in it.
    let e = start(&files.cert, &files.cert).await;
    assert!(e.contains("private key"), "{e}");
    assert!(!e.contains("BEGIN"), "{e}");

    let wrong = files.dir.path().join("other-key.pem");
    std::fs::write(&wrong, &other.key_pem).unwrap();
    let e = start(&files.cert, &wrong).await;
    assert!(e.contains("does not go with"), "{e}");
    assert!(e.contains(wrong.to_str().unwrap()), "{e}");
    assert!(!e.contains("PRIVATE KEY-----"), "{e}");

    // Half a configuration.
    let mut settings = iso.settings.clone();
    settings.tls.cert_path = Some(files.cert.clone());
    let e = match Application::build(settings, CancellationToken::new()).await {
        Ok(_) => panic!("started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("tls.key_path"), "{e}");
}

#[tokio::test]
async fn sighup_reloads_the_certificate_even_when_the_files_look_unchanged() {
    let ca = Ca::new();
    let first = ca.leaf(Key::Ecdsa, 1, &["localhost"]);
    // A second pair of exactly the same sizes: with the old modification times put back,
    // only the signal can tell the server to look.
    let second = loop {
        let leaf = ca.leaf(Key::Ecdsa, 2, &["localhost"]);
        if leaf.cert_pem.len() == first.cert_pem.len() && leaf.key_pem.len() == first.key_pem.len()
        {
            break leaf;
        }
    };
    let files = Files::new(&ca, &first);
    let app = spawn(&ca, &files).await;
    assert_eq!(presented(&ca, &app.base).await, first.der);

    let stamps: Vec<_> = [&files.cert, &files.key]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    files.install(&second);
    for (path, stamp) in [&files.cert, &files.key].iter().zip(stamps) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(stamp)
            .unwrap();
    }
    // Polls see nothing new: still the first certificate.
    tokio::time::sleep(2 * Duration::from_secs(3)).await;
    assert_eq!(presented(&ca, &app.base).await, first.der);

    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let reloaded = tokio::time::timeout(FAILSAFE, async {
        while presented(&ca, &app.base).await != second.der {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(reloaded.is_ok(), "SIGHUP did not reload the certificate");
}

#[tokio::test]
async fn the_portal_is_served_over_https_with_secure_cookies() {
    let ca = Ca::new();
    let files = Files::new(&ca, &ca.leaf(Key::Ecdsa, 1, &["localhost", "127.0.0.1"]));
    let app = spawn(&ca, &files).await;
    let plain = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    // The portal's plain port sends the browser to HTTPS.
    let r = plain
        .get(format!("{}/login", app.portal))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://") && location.ends_with("/login"),
        "{location}"
    );
    // Over HTTPS, the sign-in page with HSTS and a Secure cookie.
    let r = ca.client().get(&location).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("strict-transport-security"));
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(cookie.contains("secure"), "{cookie}");
}
