//! The JWT header checks every token gets before any key is chosen, ours and outside issuers'.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::auth::AuthError;
use jsonwebtoken::Header;

/// `typ` values of an access token: RFC 9068's `at+jwt` (the `application/` prefix may be left
/// out, RFC 7515 §4.1.9), and the generic `JWT` most issuers (and we) write. Compared without
/// regard to case, as media types are.
const ACCESS_TOKEN_TYPES: &[&str] = &["jwt", "at+jwt", "application/jwt", "application/at+jwt"];

/// Decodes the header and refuses:
/// - parameters that point at keys elsewhere (`jku`, `x5u`, `jwk`, `x5c`: we never fetch or
///   trust a key a token brings);
/// - any `crit`: we implement no extension, and RFC 7515 §4.1.11 says a token whose critical
///   extensions are not understood is invalid;
/// - a `typ` other than an access token's (a refresh token, an ID token, a logout token... is
///   not a ticket to call the API, whoever signed it).
///
/// Returns the header with its key id.
pub fn checked(token: &str) -> Result<(Header, String), AuthError> {
    let invalid = |reason: &str| AuthError::InvalidToken(reason.to_owned());
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some()
    {
        return Err(invalid("key-locating header parameters are not accepted"));
    }
    // `Header` drops what it does not know, `crit` among them: read the raw object too.
    let raw = token
        .split('.')
        .next()
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .ok_or_else(|| invalid("malformed token"))?;
    if raw.get("crit").is_some() {
        return Err(invalid("critical header extensions are not supported"));
    }
    match raw.get("typ") {
        None => {}
        Some(serde_json::Value::String(typ))
            if ACCESS_TOKEN_TYPES.contains(&typ.to_ascii_lowercase().as_str()) => {}
        Some(_) => return Err(invalid("the token is not an access token (typ)")),
    }
    let kid = header.kid.clone().ok_or_else(|| invalid("no key id"))?;
    Ok((header, kid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#);
        format!("{h}.{p}.c2ln")
    }

    #[test]
    fn crit_and_foreign_types_are_refused() {
        let ok = |h: serde_json::Value| checked(&token(h)).is_ok();
        assert!(ok(serde_json::json!({"alg": "EdDSA", "kid": "k"})));
        assert!(ok(
            serde_json::json!({"alg": "EdDSA", "kid": "k", "typ": "JWT"})
        ));
        assert!(ok(
            serde_json::json!({"alg": "EdDSA", "kid": "k", "typ": "application/AT+JWT"})
        ));
        for refused in [
            serde_json::json!({"alg": "EdDSA", "kid": "k", "typ": "refresh+jwt"}),
            serde_json::json!({"alg": "EdDSA", "kid": "k", "typ": "logout+jwt"}),
            serde_json::json!({"alg": "EdDSA", "kid": "k", "typ": 1}),
            serde_json::json!({"alg": "EdDSA", "kid": "k", "crit": ["exp"], "exp": 1}),
            serde_json::json!({"alg": "EdDSA", "kid": "k", "crit": []}),
            serde_json::json!({"alg": "EdDSA"}),
        ] {
            assert!(!ok(refused.clone()), "{refused} was accepted");
        }
    }
}
