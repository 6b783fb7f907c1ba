//! The JWT header checks every token gets before any key is chosen.

use bookstore_core::auth::AuthError;
use jsonwebtoken::Header;

/// Decodes the header, refuses parameters that point at keys elsewhere (`jku`, `x5u`, `jwk`,
/// `x5c`: we never fetch or trust a key a token brings), and returns it with its key id.
pub fn checked(token: &str) -> Result<(Header, String), AuthError> {
    let invalid = |reason: &str| AuthError::InvalidToken(reason.to_owned());
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some()
    {
        return Err(invalid("key-locating header parameters are not accepted"));
    }
    let kid = header.kid.clone().ok_or_else(|| invalid("no key id"))?;
    Ok((header, kid))
}
