//! Secrets Manager and Parameter Store as secret sources: a setting's value
//! `aws-sm:NAME[#json_key]` names a secret (its `AWSCURRENT` version; with `#key`, that key
//! of the JSON object it holds), `aws-ssm:/path` a parameter (decrypted when a
//! `SecureString`). Each read returns the version it saw (the secret's version id, the
//! parameter's version number), which the caller compares to notice a rotation.
//!
//! Nothing here logs or returns a value except as `SecretString`; errors name the secret and
//! carry AWS's message, which never holds a value.

use crate::config::describe;
use aws_config::SdkConfig;
use secrecy::SecretString;
use std::fmt;

pub const SECRETS_MANAGER: &str = "aws-sm:";
pub const PARAMETER_STORE: &str = "aws-ssm:";
/// The stage of a secret's current version. Asked for explicitly: some implementations
/// (moto, at least) answer a read without a stage with an older version after a rotation.
const CURRENT: &str = "AWSCURRENT";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AwsSecretRef {
    SecretsManager { name: String, key: Option<String> },
    Parameter { path: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0} (expected aws-sm:NAME[#json_key] or aws-ssm:/path)")]
pub struct ReferenceError(&'static str);

#[derive(Debug, thiserror::Error)]
pub enum AwsSecretError {
    #[error("reading {reference}: {message}")]
    Read { reference: String, message: String },
    #[error("{0} holds no string value")]
    NoValue(String),
    #[error("{0} is not a JSON object")]
    NotJson(String),
    #[error("{reference} has no key {key}")]
    NoKey { reference: String, key: String },
}

impl AwsSecretRef {
    /// Whether `value` names an AWS secret rather than holding one.
    pub fn is_reference(value: &str) -> bool {
        value.starts_with(SECRETS_MANAGER) || value.starts_with(PARAMETER_STORE)
    }

    pub fn parse(value: &str) -> Result<Self, ReferenceError> {
        if let Some(rest) = value.strip_prefix(SECRETS_MANAGER) {
            let (name, key) = match rest.split_once('#') {
                Some((_, "")) => return Err(ReferenceError("the key after # is empty")),
                Some((name, key)) => (name, Some(key.to_owned())),
                None => (rest, None),
            };
            // Secret names: letters, digits and /_+=.@- (AWS's rule); an ARN has ':' too.
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-:".contains(c));
            if !name_ok {
                return Err(ReferenceError(
                    "a secret's name (or ARN) is letters, digits and /_+=.@-",
                ));
            }
            return Ok(Self::SecretsManager {
                name: name.to_owned(),
                key,
            });
        }
        if let Some(path) = value.strip_prefix(PARAMETER_STORE) {
            let path_ok = path.len() > 1
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
            if !path_ok {
                return Err(ReferenceError(
                    "a parameter's path is letters, digits and /_.-",
                ));
            }
            return Ok(Self::Parameter {
                path: path.to_owned(),
            });
        }
        Err(ReferenceError("not an aws-sm: or aws-ssm: reference"))
    }
}

impl fmt::Display for AwsSecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretsManager { name, key: None } => write!(f, "{SECRETS_MANAGER}{name}"),
            Self::SecretsManager {
                name,
                key: Some(key),
            } => write!(f, "{SECRETS_MANAGER}{name}#{key}"),
            Self::Parameter { path } => write!(f, "{PARAMETER_STORE}{path}"),
        }
    }
}

/// A value read, with the version it came from.
pub struct Versioned {
    pub value: SecretString,
    pub version: String,
}

/// Both services' clients.
#[derive(Debug, Clone)]
pub struct AwsSecrets {
    secrets: aws_sdk_secretsmanager::Client,
    parameters: aws_sdk_ssm::Client,
}

impl AwsSecrets {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            parameters: aws_sdk_ssm::Client::new(config),
        }
    }

    /// The value as it is now, and its version.
    pub async fn read(&self, reference: &AwsSecretRef) -> Result<Versioned, AwsSecretError> {
        let failed = |message: String| AwsSecretError::Read {
            reference: reference.to_string(),
            message,
        };
        match reference {
            AwsSecretRef::SecretsManager { name, key } => {
                let output = self
                    .secrets
                    .get_secret_value()
                    .secret_id(name)
                    .version_stage(CURRENT)
                    .send()
                    .await
                    .map_err(|err| failed(describe(&err)))?;
                let version = output.version_id().unwrap_or_default().to_owned();
                let text = output
                    .secret_string()
                    .ok_or_else(|| AwsSecretError::NoValue(reference.to_string()))?;
                let value = match key {
                    None => text.to_owned(),
                    Some(key) => json_key(text, key, reference)?,
                };
                Ok(Versioned {
                    value: SecretString::from(value),
                    version,
                })
            }
            AwsSecretRef::Parameter { path } => {
                let output = self
                    .parameters
                    .get_parameter()
                    .name(path)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|err| failed(describe(&err)))?;
                let parameter = output
                    .parameter()
                    .ok_or_else(|| AwsSecretError::NoValue(reference.to_string()))?;
                let value = parameter
                    .value()
                    .ok_or_else(|| AwsSecretError::NoValue(reference.to_string()))?;
                Ok(Versioned {
                    value: SecretString::from(value.to_owned()),
                    version: parameter.version().to_string(),
                })
            }
        }
    }
}

fn json_key(text: &str, key: &str, reference: &AwsSecretRef) -> Result<String, AwsSecretError> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| AwsSecretError::NotJson(reference.to_string()))?;
    match object.get(key) {
        Some(serde_json::Value::String(value)) => Ok(value.clone()),
        Some(other) if !other.is_null() => Ok(other.to_string()),
        _ => Err(AwsSecretError::NoKey {
            reference: reference.to_string(),
            key: key.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        for text in [
            "aws-sm:bookstore/prod",
            "aws-sm:bookstore/prod#database_url",
            "aws-ssm:/bookstore/prod/admin_password",
        ] {
            assert_eq!(AwsSecretRef::parse(text).expect(text).to_string(), text);
        }
        for bad in [
            "aws-sm:",
            "aws-sm:a b",
            "aws-sm:x#",
            "aws-ssm:",
            "aws-ssm:/a b",
            "vault:kv/a#b",
        ] {
            assert!(AwsSecretRef::parse(bad).is_err(), "{bad}");
        }
        assert!(AwsSecretRef::is_reference("aws-ssm:/x"));
        assert!(!AwsSecretRef::is_reference("postgres://aws-sm:pw@host/db"));
    }

    #[test]
    fn json_keys_are_picked() {
        let r = AwsSecretRef::parse("aws-sm:x#url").expect("ref");
        assert_eq!(
            json_key(r#"{"url":"u","n":3}"#, "url", &r).expect("url"),
            "u"
        );
        assert_eq!(json_key(r#"{"url":"u","n":3}"#, "n", &r).expect("n"), "3");
        assert!(json_key(r#"{"url":"u"}"#, "other", &r).is_err());
        assert!(json_key("plain", "url", &r).is_err());
    }
}
