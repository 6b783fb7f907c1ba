//! Vault / OpenBao over its HTTP API: KV v2 secrets by reference, token renewal, AppRole
//! sign-in, and signatures by a transit key. The calls are few and small, so they are made
//! here with the workspace's HTTP client (rustls on ring) rather than through a client crate.
//!
//! Nothing here logs, formats or returns a secret value: values are `SecretString`, and the
//! errors carry paths and Vault's own messages (which never hold values) only.

mod client;
mod reference;

pub use client::{Auth, Kv, TokenInfo, TransitVersion, VaultClient, VaultError};
pub use reference::{KvRef, ReferenceError, PREFIX};
