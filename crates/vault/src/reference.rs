//! `vault:<mount>/<path>#<field>`: a setting's value naming a field of a KV v2 entry.

use std::fmt;

/// What starts a setting's value that names a Vault entry instead of holding the secret.
pub const PREFIX: &str = "vault:";

/// A field of a KV v2 entry: `vault:kv/bookstore#database_url` is field `database_url` of
/// entry `bookstore` on the KV v2 engine mounted at `kv`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KvRef {
    pub mount: String,
    pub path: String,
    pub field: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0} (expected vault:<mount>/<path>#<field>, as vault:kv/bookstore#database_url)")]
pub struct ReferenceError(&'static str);

impl KvRef {
    /// Whether `value` is a reference rather than a secret.
    pub fn is_reference(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    pub fn parse(value: &str) -> Result<Self, ReferenceError> {
        let rest = value
            .strip_prefix(PREFIX)
            .ok_or(ReferenceError("not a vault: reference"))?;
        let (location, field) = rest
            .split_once('#')
            .ok_or(ReferenceError("the field after # is missing"))?;
        let (mount, path) = location
            .trim_matches('/')
            .split_once('/')
            .ok_or(ReferenceError(
                "the entry's path after the mount is missing",
            ))?;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.split('/').all(|part| {
                    !part.is_empty()
                        && part != "."
                        && part != ".."
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                })
        };
        if !segment_ok(mount) || !segment_ok(path) {
            return Err(ReferenceError(
                "mount and path are names of letters, digits, '-', '_' and '.' separated by '/'",
            ));
        }
        if field.is_empty() {
            return Err(ReferenceError("the field after # is empty"));
        }
        Ok(Self {
            mount: mount.to_owned(),
            path: path.to_owned(),
            field: field.to_owned(),
        })
    }
}

impl fmt::Display for KvRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}/{}#{}", self.mount, self.path, self.field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_path_and_field() {
        let r = KvRef::parse("vault:kv/bookstore#database_url").expect("ref");
        assert_eq!(r.mount, "kv");
        assert_eq!(r.path, "bookstore");
        assert_eq!(r.field, "database_url");
        assert_eq!(r.to_string(), "vault:kv/bookstore#database_url");
        let nested = KvRef::parse("vault:secret/shop/prod#kek").expect("ref");
        assert_eq!(nested.path, "shop/prod");
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for bad in [
            "postgres://x",
            "vault:kv#f",
            "vault:kv/bookstore",
            "vault:kv/bookstore#",
            "vault:kv/../sys#f",
            "vault:kv/a b#f",
            "vault:/bookstore#f",
        ] {
            assert!(KvRef::parse(bad).is_err(), "{bad}");
        }
        assert!(KvRef::is_reference("vault:kv/a#b"));
        assert!(!KvRef::is_reference("postgres://vault:pw@host/db"));
    }
}
