//! Sign-in cryptography: argon2id password hashes computed off the async executor, Ed25519
//! signing keys sealed with AES-256-GCM under a key-encryption key, EdDSA access tokens, and
//! the validator that checks them on every request.

pub mod external;
pub mod hasher;
mod header;
pub mod kek;
pub mod keyring;
mod remote;
pub mod signer;
pub mod validator;

/// The header check every token gets first, for the fuzz targets in `fuzz/` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use header::checked as checked_header;

pub use external::{ExternalIssuers, TrustedIssuer};
pub use hasher::Argon2Hasher;
pub use kek::Kek;
pub use keyring::KeyRing;
pub use signer::JwtSigner;
pub use validator::JwtValidator;
