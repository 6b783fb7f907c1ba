//! TLS termination with rustls (ring provider): TLS 1.2 and 1.3 only, HTTP/2 and HTTP/1.1 by
//! ALPN.
//!
//! The certificate is not part of the server configuration: a [`CertResolver`] hands every
//! handshake the certified key it holds behind an atomic swap. A [`Reloader`] watches the PEM
//! files (polling their content, and on SIGHUP) and swaps in a new key when they change;
//! handshakes under way keep the key they started with, new ones get the new key, and the
//! listener never stops. A new pair that does not load (bad PEM, a key that does not belong to
//! the certificate, a half-written file) is logged and the previous certificate goes on
//! serving.

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// ALPN protocols offered, in order of preference.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("{} is not valid PEM: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("the private key in {} cannot be used: {source}", path.display())]
    Key {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("the certificate in {} is not valid: {source}", path.display())]
    Certificate {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("generating a self-signed certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
}

/// The crypto provider used for everything TLS: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Server settings: TLS 1.3 and 1.2 only, no client certificates, ALPN `h2` then
/// `http/1.1`, certificates from `resolver`.
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Hands every handshake the current certified key; [`CertResolver::swap`] replaces it
/// atomically.
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(key: CertifiedKey) -> Self {
        Self {
            current: ArcSwap::from_pointee(key),
        }
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    pub fn swap(&self, key: CertifiedKey) {
        self.current.store(Arc::new(key));
    }
}

impl std::fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current.load();
        f.debug_struct("CertResolver")
            .field(
                "certificate",
                &current.cert.first().map(|c| fingerprint(c.as_ref())),
            )
            .finish()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// SHA-256 of a DER certificate as colon-separated hex, as `openssl x509 -fingerprint
/// -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The fingerprint of a certified key's end-entity certificate.
pub fn leaf_fingerprint(key: &CertifiedKey) -> String {
    key.cert
        .first()
        .map(|c| fingerprint(c.as_ref()))
        .unwrap_or_default()
}

/// Paths of a PEM certificate chain (leaf first) and its private key.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A certified key from PEM text: the chain as given, the key checked against the leaf.
pub fn certified_key(
    files: &CertFiles,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: files.cert.clone(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: files.key.clone(),
        },
        other => TlsError::Pem {
            path: files.key.clone(),
            reason: other.to_string(),
        },
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::Key {
            path: files.key.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            })
        }
        // ring can tell the public key of every key type it loads; anything else here is a
        // certificate it cannot parse.
        Err(source) => Err(TlsError::Certificate {
            path: files.cert.clone(),
            source,
        }),
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The files are as they were at the last attempt.
    Unchanged,
    /// A new certified key serves from now on; its leaf's fingerprint.
    Swapped { fingerprint: String },
}

/// Keeps a [`CertResolver`] in step with a pair of PEM files.
pub struct Reloader {
    files: CertFiles,
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
    /// Digest of the file contents (or of the error reading them) at the last attempt, so
    /// that a broken pair is reported once, not at every poll.
    last_seen: Mutex<[u8; 32]>,
}

impl Reloader {
    /// Loads the pair; a failure here is fatal to the caller (there is no previous
    /// certificate to fall back on).
    pub fn load(files: CertFiles) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let (cert_pem, key_pem) = (read(&files.cert)?, read(&files.key)?);
        let key = certified_key(&files, &cert_pem, &key_pem, &provider)?;
        Ok(Arc::new(Self {
            last_seen: Mutex::new(digest(&cert_pem, &key_pem)),
            resolver: Arc::new(CertResolver::new(key)),
            files,
            provider,
        }))
    }

    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    pub fn files(&self) -> &CertFiles {
        &self.files
    }

    /// Re-reads the files and swaps in their key if they changed since the last attempt, or
    /// in any case when `force`d. On an error the current key stays.
    pub fn reload(&self, force: bool) -> Result<Reloaded, TlsError> {
        let contents = read(&self.files.cert).and_then(|c| Ok((c, read(&self.files.key)?)));
        let seen = match &contents {
            Ok((cert, key)) => digest(cert, key),
            Err(err) => digest(b"error", err.to_string().as_bytes()),
        };
        {
            let mut last = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
            if *last == seen && !force {
                return Ok(Reloaded::Unchanged);
            }
            *last = seen;
        }
        let (cert_pem, key_pem) = contents?;
        let key = certified_key(&self.files, &cert_pem, &key_pem, &self.provider)?;
        let fingerprint = leaf_fingerprint(&key);
        self.resolver.swap(key);
        Ok(Reloaded::Swapped { fingerprint })
    }

    async fn reload_logged(self: &Arc<Self>, force: bool, trigger: &'static str) {
        let this = self.clone();
        let outcome = tokio::task::spawn_blocking(move || this.reload(force)).await;
        match outcome {
            Ok(Ok(Reloaded::Unchanged)) => {}
            Ok(Ok(Reloaded::Swapped { fingerprint })) => tracing::info!(
                trigger,
                cert = %self.files.cert.display(),
                %fingerprint,
                "TLS certificate reloaded"
            ),
            Ok(Err(err)) => tracing::error!(
                trigger,
                error = %err,
                "TLS certificate reload failed; still serving the previous certificate"
            ),
            Err(err) => tracing::error!(error = %err, "TLS certificate reload task failed"),
        }
    }

    /// Polls the files every `interval` (not at all when zero) and reloads on SIGHUP, until
    /// the returned task is aborted.
    pub fn watch(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangup =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                    Ok(signal) => Some(signal),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot listen for SIGHUP; polling only");
                        None
                    }
                };
            let mut poll = (!interval.is_zero()).then(|| {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick
            });
            loop {
                #[cfg(unix)]
                let signalled = async {
                    match hangup.as_mut() {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let signalled = std::future::pending::<Option<()>>();
                let polled = async {
                    match poll.as_mut() {
                        Some(tick) => tick.tick().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = signalled => self.reload_logged(true, "SIGHUP").await,
                    _ = polled => self.reload_logged(false, "poll").await,
                }
            }
        })
    }
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((cert.len() as u64).to_be_bytes());
    hasher.update(cert);
    hasher.update(key);
    hasher.finalize().into()
}

/// A certificate made up on the spot for trying TLS out: self-signed, for `names` (DNS
/// names or IP addresses).
pub struct SelfSigned {
    pub key: CertifiedKey,
    pub fingerprint: String,
    pub cert_pem: String,
}

pub fn self_signed(names: Vec<String>) -> Result<SelfSigned, TlsError> {
    let generated = rcgen::generate_simple_self_signed(names)?;
    let cert_pem = generated.cert.pem();
    let cert_der = generated.cert.der().clone();
    let fingerprint = fingerprint(cert_der.as_ref());
    let key_der = PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
    let signing_key = provider().key_provider.load_private_key(key_der)?;
    Ok(SelfSigned {
        key: CertifiedKey::new(vec![cert_der], signing_key),
        fingerprint,
        cert_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair(name: &str) -> (String, String) {
        let generated =
            rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("generate");
        (generated.cert.pem(), generated.key_pair.serialize_pem())
    }

    fn write(path: &Path, content: &str) {
        let mut file = std::fs::File::create(path).expect("create");
        file.write_all(content.as_bytes()).expect("write");
    }

    #[test]
    fn only_tls_12_and_13_with_h2_and_http11_by_alpn() {
        let generated = self_signed(vec!["localhost".into()]).expect("self-signed");
        let config = server_config(Arc::new(CertResolver::new(generated.key))).expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        for suite in &config.crypto_provider().cipher_suites {
            let version = suite.version().version;
            assert!(
                version == rustls::ProtocolVersion::TLSv1_3
                    || version == rustls::ProtocolVersion::TLSv1_2,
                "{version:?}"
            );
        }
    }

    #[test]
    fn reloads_on_change_and_keeps_the_old_key_on_a_bad_pair() {
        let dir = tempfile::tempdir().expect("dir");
        let files = CertFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let (cert_a, key_a) = pair("a.test");
        let (cert_b, key_b) = pair("b.test");
        write(&files.cert, &cert_a);
        write(&files.key, &key_a);
        let reloader = Reloader::load(files.clone()).expect("load");
        let first = leaf_fingerprint(&reloader.resolver().current());
        assert_eq!(reloader.reload(false).expect("reload"), Reloaded::Unchanged);

        // A key that is not the certificate's: refused, A still serves, reported once.
        write(&files.cert, &cert_b);
        let err = reloader.reload(false).expect_err("mismatch");
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        assert_eq!(leaf_fingerprint(&reloader.resolver().current()), first);
        assert_eq!(reloader.reload(false).expect("quiet"), Reloaded::Unchanged);

        // Garbage: the same.
        write(&files.key, "not a key");
        assert!(matches!(
            reloader.reload(false),
            Err(TlsError::NoKey { .. })
        ));
        assert_eq!(leaf_fingerprint(&reloader.resolver().current()), first);

        // The matching key arrives: B serves.
        write(&files.key, &key_b);
        let Reloaded::Swapped { fingerprint } = reloader.reload(false).expect("reload") else {
            panic!("not swapped");
        };
        assert_ne!(fingerprint, first);
        assert_eq!(
            leaf_fingerprint(&reloader.resolver().current()),
            fingerprint
        );

        // A missing file is an error, never a panic.
        std::fs::remove_file(&files.cert).expect("remove");
        assert!(matches!(reloader.reload(false), Err(TlsError::Read { .. })));
        assert_eq!(
            leaf_fingerprint(&reloader.resolver().current()),
            fingerprint
        );
    }

    #[test]
    fn the_first_load_must_succeed() {
        let dir = tempfile::tempdir().expect("dir");
        let files = CertFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        write(
            &files.cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let (_, key) = pair("a.test");
        write(&files.key, &key);
        assert!(Reloader::load(files).is_err());
    }
}
