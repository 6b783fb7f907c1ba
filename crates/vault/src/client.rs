//! The HTTP calls: KV v2 read, token lookup and renewal, AppRole login.

use crate::reference::KvRef;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use std::sync::RwLock;
use std::time::Duration;

/// How the service proves itself to Vault.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A token given to it (`VAULT_TOKEN`), renewed while it is renewable.
    Token(SecretString),
    /// AppRole: a role id and a secret id, exchanged for a token at start and again whenever
    /// the token can no longer be renewed.
    AppRole {
        role_id: SecretString,
        secret_id: SecretString,
    },
}

/// A field of a KV v2 entry and the entry's version.
#[derive(Debug, Clone)]
pub struct Kv {
    pub value: SecretString,
    pub version: u64,
}

/// One version of a transit signing key: its public key and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitVersion {
    pub version: u64,
    /// As Vault wrote it (RFC 3339).
    pub creation_time: String,
    /// The raw public key (32 bytes for ed25519).
    pub public_key: Vec<u8>,
}

/// What Vault says of the token in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenInfo {
    /// Time left; zero for a token that does not expire (a root token).
    pub ttl: Duration,
    pub renewable: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot reach Vault for {path}: {source}")]
    Transport {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Vault refused {path}: HTTP {status}{message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("Vault's answer to {path} is not what was expected: {what}")]
    Malformed { path: String, what: String },
    #[error("{reference}: the entry has no string field {field:?}")]
    NoField { reference: String, field: String },
    #[error("the Vault client: {0}")]
    Setup(String),
}

impl VaultError {
    /// Whether Vault refused the token (expired, revoked): signing in again may help.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Status { status: 403, .. })
    }
}

/// Timeout of each call: a vault that hangs must not hang the start or a reload.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct VaultClient {
    http: reqwest::Client,
    /// `https://vault.example:8200`, without a trailing slash.
    addr: String,
    auth: Auth,
    token: RwLock<SecretString>,
}

impl std::fmt::Debug for VaultClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultClient")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct AuthBlock {
    client_token: String,
    lease_duration: u64,
    renewable: bool,
}

impl VaultClient {
    /// A client of the Vault at `addr`; with AppRole, signs in first. `ca_pem` is a CA
    /// certificate to trust besides the system's (a private Vault's).
    pub async fn connect(
        addr: &str,
        auth: Auth,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, VaultError> {
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT);
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| VaultError::Setup(format!("the CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| VaultError::Setup(e.to_string()))?;
        let token = match &auth {
            Auth::Token(token) => token.clone(),
            Auth::AppRole { .. } => SecretString::from(String::new()),
        };
        let client = Self {
            http,
            addr: addr.trim_end_matches('/').to_owned(),
            auth,
            token: RwLock::new(token),
        };
        if matches!(client.auth, Auth::AppRole { .. }) {
            client.login().await?;
        }
        Ok(client)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Signs in with AppRole and keeps the token; for a given token, says what it is.
    pub async fn login(&self) -> Result<TokenInfo, VaultError> {
        let Auth::AppRole { role_id, secret_id } = &self.auth else {
            return self.lookup_self().await;
        };
        let path = "auth/approle/login";
        let body = serde_json::json!({
            "role_id": role_id.expose_secret(),
            "secret_id": secret_id.expose_secret(),
        });
        let answer = self.call(reqwest::Method::POST, path, Some(&body)).await?;
        self.take_auth(path, answer)
    }

    /// The token's time to live and whether it can be renewed.
    pub async fn lookup_self(&self) -> Result<TokenInfo, VaultError> {
        let path = "auth/token/lookup-self";
        let answer = self.call(reqwest::Method::GET, path, None).await?;
        let data = answer
            .get("data")
            .ok_or_else(|| malformed(path, "no data"))?;
        Ok(TokenInfo {
            ttl: Duration::from_secs(data.get("ttl").and_then(Value::as_u64).unwrap_or(0)),
            renewable: data
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// Extends the token's lease; what Vault granted (it may be less than asked, up to the
    /// token's maximum).
    pub async fn renew_self(&self) -> Result<TokenInfo, VaultError> {
        let path = "auth/token/renew-self";
        let answer = self
            .call(reqwest::Method::POST, path, Some(&serde_json::json!({})))
            .await?;
        self.take_auth(path, answer)
    }

    fn take_auth(&self, path: &str, answer: Value) -> Result<TokenInfo, VaultError> {
        let block: AuthBlock = answer
            .get("auth")
            .cloned()
            .and_then(|auth| serde_json::from_value(auth).ok())
            .ok_or_else(|| malformed(path, "no auth block"))?;
        if let Ok(mut token) = self.token.write() {
            *token = SecretString::from(block.client_token);
        }
        Ok(TokenInfo {
            ttl: Duration::from_secs(block.lease_duration),
            renewable: block.renewable,
        })
    }

    /// The field a reference names, with its entry's current version.
    pub async fn read(&self, reference: &KvRef) -> Result<Kv, VaultError> {
        let path = format!("{}/data/{}", reference.mount, reference.path);
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        let data = answer
            .get("data")
            .ok_or_else(|| malformed(&path, "no data (is the mount a KV version 2 engine?)"))?;
        let version = data
            .pointer("/metadata/version")
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed(&path, "no metadata.version"))?;
        let value = data
            .get("data")
            .and_then(|fields| fields.get(&reference.field))
            .and_then(Value::as_str)
            .ok_or_else(|| VaultError::NoField {
                reference: reference.to_string(),
                field: reference.field.clone(),
            })?;
        Ok(Kv {
            value: SecretString::from(value.to_owned()),
            version,
        })
    }

    /// The current version of the entry a reference names, from its metadata (no value is
    /// read): what a poll for changes asks.
    pub async fn current_version(&self, reference: &KvRef) -> Result<u64, VaultError> {
        let path = format!("{}/metadata/{}", reference.mount, reference.path);
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        answer
            .pointer("/data/current_version")
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed(&path, "no data.current_version"))
    }

    /// The versions of the transit key `name` under `mount` that can still sign and verify
    /// (from `min_available_version` on), oldest first; an error unless it is an ed25519 key.
    pub async fn transit_versions(
        &self,
        mount: &str,
        name: &str,
    ) -> Result<Vec<TransitVersion>, VaultError> {
        use base64::Engine;
        let path = format!("{mount}/keys/{name}");
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        let data = answer
            .get("data")
            .ok_or_else(|| malformed(&path, "no data"))?;
        let kind = data.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind != "ed25519" {
            return Err(malformed(
                &path,
                &format!("the key is of type {kind:?}; tokens need an ed25519 key"),
            ));
        }
        let keys = data
            .get("keys")
            .and_then(Value::as_object)
            .ok_or_else(|| malformed(&path, "no keys"))?;
        let mut versions = Vec::new();
        for (number, key) in keys {
            let version: u64 = number
                .parse()
                .map_err(|_| malformed(&path, "a key version is not a number"))?;
            let public_key = key
                .get("public_key")
                .and_then(Value::as_str)
                .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
                .ok_or_else(|| malformed(&path, "a version has no public key"))?;
            let creation_time = key
                .get("creation_time")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(&path, "a version has no creation time"))?
                .to_owned();
            versions.push(TransitVersion {
                version,
                creation_time,
                public_key,
            });
        }
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    /// The signature of `input` by version `version` of the transit key: Vault signs, the
    /// private key stays there.
    pub async fn transit_sign(
        &self,
        mount: &str,
        name: &str,
        version: u64,
        input: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let path = format!("{mount}/sign/{name}");
        let body = serde_json::json!({
            "input": engine.encode(input),
            "key_version": version,
        });
        let answer = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        // `vault:v<version>:<base64 signature>`
        let signature = answer
            .pointer("/data/signature")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&path, "no data.signature"))?;
        let encoded = signature
            .rsplit(':')
            .next()
            .ok_or_else(|| malformed(&path, "a signature without its prefix"))?;
        engine
            .decode(encoded)
            .map_err(|_| malformed(&path, "the signature is not base64"))
    }

    /// One call to `/v1/{path}` with the token; the JSON answer of a 2xx, else the status
    /// with Vault's own error messages (which name no secret value).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, VaultError> {
        let url = format!("{}/v1/{path}", self.addr);
        let mut request = self.http.request(method, url);
        let token = self
            .token
            .read()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default();
        if !token.is_empty() {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |source: reqwest::Error| VaultError::Transport {
            path: path.to_owned(),
            source: source.without_url(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let messages: Vec<String> = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("errors").cloned())
                .and_then(|e| serde_json::from_value(e).ok())
                .unwrap_or_default();
            let message = if messages.is_empty() {
                String::new()
            } else {
                format!(": {}", messages.join("; "))
            };
            return Err(VaultError::Status {
                path: path.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| malformed(path, "not JSON"))
    }
}

fn malformed(path: &str, what: &str) -> VaultError {
    VaultError::Malformed {
        path: path.to_owned(),
        what: what.to_owned(),
    }
}
