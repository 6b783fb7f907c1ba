//! Tokens from trusted outside issuers (AWS Cognito, Keycloak, any OIDC provider): verified
//! against the issuer's JWKS, fetched from the configured URL only, cached, and re-fetched at
//! most once per interval when a token names a key we have not seen (the issuer rotated).

use bookstore_core::auth::AuthError;
use bookstore_core::{Principal, Role};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How an outside issuer's tokens map onto our roles.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    pub jwks_url: String,
    /// The `aud` its tokens must carry for us.
    pub audience: String,
    /// The claim holding the role, a string or a list (Cognito: `cognito:groups`).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim values that make the caller an admin.
    #[serde(default)]
    pub admin_values: Vec<String>,
    /// Claim values that make the caller staff.
    #[serde(default)]
    pub staff_values: Vec<String>,
    /// Least seconds between two JWKS fetches caused by unknown key ids.
    #[serde(default = "default_min_refresh_secs")]
    pub min_refresh_secs: u64,
}

fn default_min_refresh_secs() -> u64 {
    DEFAULT_MIN_REFRESH.as_secs()
}

fn default_role_claim() -> String {
    "role".into()
}

/// Keys are re-fetched on an unknown `kid` at most this often (unless configured), so forged
/// key ids cannot turn us into a request amplifier against the issuer.
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Keys are re-fetched after this long even when every `kid` is known.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

struct Issuer {
    config: TrustedIssuer,
    validation: Validation,
    cache: tokio::sync::Mutex<Cache>,
}

pub struct ExternalIssuers {
    issuers: Vec<Issuer>,
    http: reqwest::Client,
    fetches: Mutex<u64>,
}

fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(reason.into())
}

/// The algorithm a JWK is for; symmetric keys are never accepted from a JWKS.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let declared = jwk
        .common
        .key_algorithm
        .and_then(|a| Algorithm::from_str(&a.to_string()).ok());
    let family_default = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => return None,
    };
    match declared.unwrap_or(family_default) {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => None,
        algorithm => Some(algorithm),
    }
}

/// RFC 7519 §4.1: the registered claims have types, and a claim of another type is not that
/// claim read loosely (the validation library skips an `nbf` that is not a number, as if it
/// were absent): it makes the token invalid.
fn registered_claim_types(claims: &serde_json::Value) -> Result<(), AuthError> {
    use serde_json::Value;
    let Value::Object(claims) = claims else {
        return Err(invalid("the claims are not an object"));
    };
    for name in ["exp", "nbf", "iat"] {
        if claims.get(name).is_some_and(|v| !v.is_number()) {
            return Err(invalid(format!("claim {name} is not a NumericDate")));
        }
    }
    for name in ["iss", "sub", "jti"] {
        if claims.get(name).is_some_and(|v| !v.is_string()) {
            return Err(invalid(format!("claim {name} is not a string")));
        }
    }
    match claims.get("aud") {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(invalid("claim aud is not a string or a list of strings")),
    }
}

fn peek_issuer(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

impl ExternalIssuers {
    pub fn new(configs: Vec<TrustedIssuer>) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthError::Crypto(e.to_string()))?;
        let issuers = configs
            .into_iter()
            .map(|config| {
                // The algorithm list is replaced per key before use.
                let mut validation = Validation::new(Algorithm::RS256);
                validation.leeway = 30;
                validation.validate_nbf = true;
                validation.set_issuer(&[config.issuer.as_str()]);
                validation.set_audience(&[config.audience.as_str()]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                Issuer {
                    config,
                    validation,
                    cache: tokio::sync::Mutex::new(Cache::default()),
                }
            })
            .collect();
        Ok(Self {
            issuers,
            http,
            fetches: Mutex::new(0),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// How many JWKS fetches were made: for tests and metrics.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.lock().map(|n| *n).unwrap_or(0)
    }

    /// The trusted issuer a token claims to come from, if any (unverified: only to choose keys).
    pub fn claims_trusted_issuer(&self, token: &str) -> bool {
        // Most deployments trust no outside issuer: then there is no payload to decode.
        !self.issuers.is_empty()
            && peek_issuer(token)
                .is_some_and(|iss| self.issuers.iter().any(|i| i.config.issuer == iss))
    }

    async fn fetch(
        &self,
        issuer: &Issuer,
    ) -> Result<HashMap<String, (DecodingKey, Algorithm)>, AuthError> {
        if let Ok(mut n) = self.fetches.lock() {
            *n += 1;
        }
        let set: JwkSet = self
            .http
            .get(&issuer.config.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| invalid(format!("cannot fetch the issuer's keys: {e}")))?
            .json()
            .await
            .map_err(|e| invalid(format!("the issuer's JWKS is not valid: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(algorithm)) = (jwk.common.key_id.clone(), algorithm_of(jwk))
            else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, algorithm));
            }
        }
        Ok(keys)
    }

    async fn key(&self, issuer: &Issuer, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        let mut cache = issuer.cache.lock().await;
        let stale = cache.fetched_at.is_none_or(|at| at.elapsed() > MAX_KEY_AGE);
        let known = cache.keys.contains_key(kid);
        let may_fetch = cache
            .last_attempt
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(issuer.config.min_refresh_secs));
        if (stale || !known) && may_fetch {
            cache.last_attempt = Some(Instant::now());
            match self.fetch(issuer).await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
                Err(err) => {
                    tracing::warn!(issuer = %issuer.config.issuer, error = %err, "JWKS fetch failed")
                }
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| invalid("unknown signing key of the outside issuer"))
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let iss = peek_issuer(token).ok_or_else(|| invalid("no issuer"))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or_else(|| invalid("untrusted issuer"))?;
        let (header, kid) = crate::header::checked(token)?;
        let (key, algorithm) = self.key(issuer, &kid).await?;
        if header.alg != algorithm {
            return Err(invalid("the algorithm does not match the issuer's key"));
        }
        let mut validation = issuer.validation.clone();
        validation.algorithms = vec![algorithm];
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| invalid(e.to_string()))?
            .claims;
        registered_claim_types(&claims)?;
        let values: Vec<String> = match claims.get(&issuer.config.role_claim) {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let has = |accepted: &[String]| values.iter().any(|v| accepted.contains(v));
        let role = if has(&issuer.config.admin_values) {
            Role::Admin
        } else if has(&issuer.config.staff_values) {
            Role::Staff
        } else {
            return Err(invalid("the token carries no role we recognise"));
        };
        let sub = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let username = [
            "cognito:username",
            "preferred_username",
            "username",
            "email",
        ]
        .iter()
        .find_map(|c| claims.get(*c).and_then(|v| v.as_str()))
        .unwrap_or(&sub)
        .to_owned();
        Ok(Principal {
            subject: format!("{iss}#{sub}"),
            username,
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_claims_must_have_their_types() {
        let base = serde_json::json!({"iss": "i", "sub": "s", "aud": ["a"], "exp": 2e9, "nbf": 1});
        assert!(registered_claim_types(&base).is_ok());
        for (claim, value) in [
            ("nbf", serde_json::json!("later")),
            ("exp", serde_json::json!("2099-01-01")),
            ("iat", serde_json::json!(null)),
            ("sub", serde_json::json!(42)),
            ("iss", serde_json::json!(["i"])),
            ("jti", serde_json::json!({})),
            ("aud", serde_json::json!(["a", 1])),
            ("aud", serde_json::json!(7)),
        ] {
            let mut claims = base.clone();
            claims[claim] = value.clone();
            assert!(
                registered_claim_types(&claims).is_err(),
                "{claim}: {value} was accepted"
            );
        }
    }

    #[test]
    fn symmetric_keys_are_never_taken_from_a_jwks() {
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "oct", "k": "c2VjcmV0", "kid": "k1", "alg": "HS256"
        }))
        .expect("jwk");
        assert_eq!(algorithm_of(&jwk), None);
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k2"
        }))
        .expect("jwk");
        assert_eq!(algorithm_of(&jwk), Some(Algorithm::EdDSA));
    }
}
