//! TLS: ALPN, protocol versions, the self-signed mode, and certificate reloads (on SIGHUP and
//! by polling) that never fail a request and never let a bad file replace a good one.
//! TLS does not touch the store: these run on SQLite only.

use crate::helpers::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use reqwest::{Client, Method};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A certificate authority of the test's own, and the server certificates it signs.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    pub pem: String,
}

/// A server certificate: chain (leaf, then CA) and key as PEM, and the leaf's DER.
#[derive(Clone)]
pub struct Leaf {
    pub chain_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Bookstore test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA");
        let pem = cert.pem();
        Self { cert, key, pem }
    }

    pub fn leaf(&self, common_name: &str) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        Leaf {
            chain_pem: format!("{}{}", cert.pem(), self.pem),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// Replaces a file the way deployment tools do: a new file renamed over the old one.
pub fn replace(path: &Path, content: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

pub struct TlsFiles {
    _dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn new(leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let files = Self {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        };
        files.install(leaf);
        files
    }

    pub fn install(&self, leaf: &Leaf) {
        replace(&self.cert, &leaf.chain_pem);
        replace(&self.key, &leaf.key_pem);
    }
}

/// A client that trusts only `ca`; with `fresh`, every request makes a new connection (and
/// so a new handshake).
pub fn tls_client(ca: &TestCa, fresh: bool) -> Client {
    client_trusting(&ca.pem, fresh)
}

pub fn client_trusting(ca_pem: &str, fresh: bool) -> Client {
    let mut builder = Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"))
        .tls_info(true)
        .timeout(Duration::from_secs(30));
    if fresh {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().expect("client")
}

async fn spawn_tls(ca: &TestCa, files: &TlsFiles, reload_interval: &str) -> TestApp {
    let cert = files.cert.display().to_string();
    let key = files.key.display().to_string();
    launch(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_TLS_CERT", &cert),
            ("BOOKSTORE_TLS_KEY", &key),
            ("BOOKSTORE_TLS_RELOAD_INTERVAL", reload_interval),
        ],
        tls_client(ca, false),
        "https",
    )
    .await
}

/// The DER of the certificate a new connection is served. The client must be new too: a
/// client that connected before resumes its TLS session, and a resumed session is not sent
/// the certificate again.
async fn served_certificate(app: &TestApp, client: &Client) -> Vec<u8> {
    let response = client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request over a new connection");
    assert_eq!(response.status(), 200);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("peer certificate")
        .to_vec()
}

async fn served_to_new_client(app: &TestApp, ca: &TestCa) -> Vec<u8> {
    served_certificate(app, &tls_client(ca, true)).await
}

async fn wait_for_certificate(app: &TestApp, ca: &TestCa, expected: &Leaf) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_to_new_client(app, ca).await != expected.der {
        assert!(
            Instant::now() < deadline,
            "the new certificate is not served; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_log(app: &TestApp, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.logs().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {count} log line(s) with {needle:?}:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn http2_and_http11_by_alpn_over_tls_12_and_13() {
    let ca = TestCa::new();
    let leaf = ca.leaf("a.bookstore.test");
    let files = TlsFiles::new(&leaf);
    let app = spawn_tls(&ca, &files, "0").await;
    assert!(app.base.starts_with("https://"));

    // The default client offers h2 and http/1.1: the server picks h2.
    let response = app.get("/healthz").await;
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        header(
            &response,
            "strict-transport-security".parse().expect("name")
        ),
        "max-age=31536000"
    );
    // Signed in over TLS, a book is created and read back.
    let book = app.create_book(hobbit()).await;
    let id = book["id"].as_str().expect("id");
    assert_eq!(app.get(&format!("/books/{id}")).await.status(), 200);

    for (name, builder) in [
        ("HTTP/1.1 only", Client::builder().http1_only()),
        (
            "TLS 1.2 only",
            Client::builder()
                .min_tls_version(reqwest::tls::Version::TLS_1_2)
                .max_tls_version(reqwest::tls::Version::TLS_1_2),
        ),
        (
            "TLS 1.3 only",
            Client::builder()
                .min_tls_version(reqwest::tls::Version::TLS_1_3)
                .max_tls_version(reqwest::tls::Version::TLS_1_3),
        ),
    ] {
        let client = builder
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("CA"))
            .build()
            .expect("client");
        let response = client
            .request(Method::GET, app.url("/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(response.status(), 200, "{name}");
        let expected = if name == "HTTP/1.1 only" {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(response.version(), expected, "{name}");
    }

    // A client that does not trust the CA is refused.
    let untrusting = Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    assert!(untrusting.get(app.url("/healthz")).send().await.is_err());
}

/// A TLS ClientHello offering only `version` (0x0301 for TLS 1.0, 0x0302 for 1.1), with
/// suites those versions had; no `supported_versions` extension, as such clients send.
fn legacy_client_hello(version: [u8; 2]) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend(version);
    hello.extend([0x42; 32]); // random
    hello.push(0); // no session id
    let suites: [u16; 4] = [0xc013, 0xc014, 0x002f, 0x0035];
    hello.extend(((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        hello.extend(suite.to_be_bytes());
    }
    hello.extend([1, 0]); // compression: null only
    let mut handshake = vec![1]; // client_hello
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test]
async fn tls_11_and_older_are_refused() {
    let ca = TestCa::new();
    let files = TlsFiles::new(&ca.leaf("a.bookstore.test"));
    let app = spawn_tls(&ca, &files, "0").await;
    let port = app.port();
    for (name, version) in [("TLS 1.0", [3, 1]), ("TLS 1.1", [3, 2])] {
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            stream
                .write_all(&legacy_client_hello(version))
                .expect("send hello");
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            answer
        })
        .await
        .expect("join");
        // A fatal alert (protocol_version or handshake_failure), never a ServerHello.
        assert!(answer.len() >= 7, "{name}: answer {answer:?}");
        assert_eq!(answer[0], 0x15, "{name}: not an alert: {answer:?}");
        assert_eq!(answer[5], 2, "{name}: not fatal: {answer:?}");
        assert!(matches!(answer[6], 70 | 40), "{name}: alert {}", answer[6]);
    }
    // The server is unharmed.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn certificate_swap_under_load_fails_no_request() {
    let ca = TestCa::new();
    let (a, b) = (ca.leaf("a.bookstore.test"), ca.leaf("b.bookstore.test"));
    let files = TlsFiles::new(&a);
    let app = Arc::new(spawn_tls(&ca, &files, "1").await);

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for worker in 0..4 {
        // Half reuse their connection; half make a new client every time, and so a full
        // handshake (a client that connected before would resume its session instead).
        let full_handshakes = worker % 2 == 1;
        let shared = tls_client(&ca, false);
        let ca_pem = ca.pem.clone();
        let (app, stop, done, failures) =
            (app.clone(), stop.clone(), done.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..5_000 {
                if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(90) {
                    break;
                }
                let client = if full_handshakes {
                    client_trusting(&ca_pem, true)
                } else {
                    shared.clone()
                };
                match client.get(app.url("/healthz")).send().await {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failures
                        .lock()
                        .expect("lock")
                        .push(format!("status {}", r.status())),
                    Err(e) => failures.lock().expect("lock").push(format!("{e:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let wait_for_more = |n: usize| {
        let done = done.clone();
        async move {
            let target = done.load(Ordering::Relaxed) + n;
            let deadline = Instant::now() + Duration::from_secs(60);
            while done.load(Ordering::Relaxed) < target && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for_more(40).await;
    // Certificate and key are replaced one after the other, as a deployment tool would;
    // between the two renames the pair does not match and must not be taken.
    files.install(&b);
    app.signal("HUP");
    wait_for_certificate(&app, &ca, &b).await;
    wait_for_more(40).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }
    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(done.load(Ordering::Relaxed) >= 80);
    assert!(app.logs().contains("TLS certificate reloaded"));
}

#[tokio::test]
async fn a_bad_new_certificate_keeps_the_old_one_serving() {
    let ca = TestCa::new();
    let (a, b) = (ca.leaf("a.bookstore.test"), ca.leaf("b.bookstore.test"));
    let files = TlsFiles::new(&a);
    // No polling: reloads happen on SIGHUP only, so every step is deterministic.
    let app = spawn_tls(&ca, &files, "0").await;
    assert_eq!(served_to_new_client(&app, &ca).await, a.der);

    replace(
        &files.cert,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    app.signal("HUP");
    wait_for_log(&app, "TLS certificate reload failed", 1).await;
    assert_eq!(served_to_new_client(&app, &ca).await, a.der);

    // B's certificate with A's key: they do not belong together.
    replace(&files.cert, &b.chain_pem);
    app.signal("HUP");
    wait_for_log(&app, "TLS certificate reload failed", 2).await;
    assert!(app.logs().contains("does not belong to the certificate"));
    assert_eq!(served_to_new_client(&app, &ca).await, a.der);
    assert_eq!(app.get("/healthz").await.status(), 200);

    // With B's key the pair is good, and B serves.
    replace(&files.key, &b.key_pem);
    app.signal("HUP");
    wait_for_certificate(&app, &ca, &b).await;
}

#[tokio::test]
async fn changed_files_are_picked_up_without_a_signal() {
    let ca = TestCa::new();
    let (a, b) = (ca.leaf("a.bookstore.test"), ca.leaf("b.bookstore.test"));
    let files = TlsFiles::new(&a);
    let app = spawn_tls(&ca, &files, "1").await;
    assert_eq!(served_to_new_client(&app, &ca).await, a.der);
    files.install(&b);
    wait_for_certificate(&app, &ca, &b).await;
}

#[tokio::test]
async fn self_signed_mode_prints_the_fingerprint_it_serves() {
    let client = Client::builder()
        .use_rustls_tls()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .expect("client");
    let app = launch(
        Backend::Sqlite,
        &[("BOOKSTORE_TLS_SELF_SIGNED", "true")],
        client,
        "https",
    )
    .await;
    let logs = app.logs();
    let printed = logs
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256 fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint printed:\n{logs}"))
        .to_owned();
    let served = served_certificate(&app, &app.client).await;
    let digest = ring::digest::digest(&ring::digest::SHA256, &served);
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(printed, fingerprint);
    // The discovery document names the https URL.
    let discovery = body(app.get("/.well-known/openid-configuration").await).await;
    assert!(
        discovery["issuer"]
            .as_str()
            .expect("issuer")
            .starts_with("https://"),
        "{discovery}"
    );
}

/// Multi-threaded: `terminate` blocks its thread while it waits, and the client's HTTP/2
/// connection must still answer the server's GOAWAY and PING to let it close gracefully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_stops_cleanly_on_sigterm() {
    let ca = TestCa::new();
    let files = TlsFiles::new(&ca.leaf("a.bookstore.test"));
    let mut app = spawn_tls(&ca, &files, "1").await;
    app.create_book(hobbit()).await;
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", app.logs());
    assert!(app.logs().contains("stopped"));
}
