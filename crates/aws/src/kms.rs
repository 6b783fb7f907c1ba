//! The key-encryption key as a KMS key (envelope encryption): KMS makes a 256-bit data key
//! (`GenerateDataKey`) and hands it back twice, in the clear and wrapped under the KMS key;
//! only the wrapped copy is kept, and each start unwraps it (`Decrypt`). The KMS key never
//! leaves KMS, and the data key never touches a disk in the clear. Both calls bind an
//! encryption context naming the key's purpose, so a data key wrapped for something else
//! cannot be unwrapped as this one (and CloudTrail shows what each call was for).

use crate::config::describe;
use aws_config::SdkConfig;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use secrecy::SecretSlice;

/// The encryption context of every call: `purpose` = [`PURPOSE`].
pub const CONTEXT_KEY: &str = "purpose";
pub const PURPOSE: &str = "bookstore-kek";
pub const PREFIX: &str = "kms:";

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("KMS {operation} with key {key}: {message}")]
    Call {
        operation: &'static str,
        key: String,
        message: String,
    },
    #[error("KMS returned no {0}")]
    Missing(&'static str),
    #[error("the data key from KMS is {0} bytes, not 32")]
    WrongSize(usize),
}

pub struct KmsKek {
    client: aws_sdk_kms::Client,
    key_id: String,
}

/// A data key: the clear copy (to use now, never stored) and the wrapped one (to keep).
pub struct DataKey {
    pub plaintext: SecretSlice<u8>,
    pub wrapped: Vec<u8>,
}

impl KmsKek {
    /// `key_id`: a key id, ARN, or `alias/NAME`.
    pub fn new(config: &SdkConfig, key_id: &str) -> Self {
        Self {
            client: aws_sdk_kms::Client::new(config),
            key_id: key_id.to_owned(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn failed(&self, operation: &'static str, err: &(dyn std::error::Error + 'static)) -> KmsError {
        KmsError::Call {
            operation,
            key: self.key_id.clone(),
            message: describe(err),
        }
    }

    /// A new data key.
    pub async fn generate(&self) -> Result<DataKey, KmsError> {
        let output = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, PURPOSE)
            .send()
            .await
            .map_err(|err| self.failed("GenerateDataKey", &err))?;
        let plaintext = output
            .plaintext
            .ok_or(KmsError::Missing("plaintext"))?
            .into_inner();
        if plaintext.len() != 32 {
            return Err(KmsError::WrongSize(plaintext.len()));
        }
        let wrapped = output
            .ciphertext_blob
            .ok_or(KmsError::Missing("ciphertext"))?
            .into_inner();
        Ok(DataKey {
            plaintext: plaintext.into(),
            wrapped,
        })
    }

    /// The clear data key of a wrapped one.
    pub async fn unwrap(&self, wrapped: &[u8]) -> Result<SecretSlice<u8>, KmsError> {
        let output = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, PURPOSE)
            .send()
            .await
            .map_err(|err| self.failed("Decrypt", &err))?;
        let plaintext = output
            .plaintext
            .ok_or(KmsError::Missing("plaintext"))?
            .into_inner();
        if plaintext.len() != 32 {
            return Err(KmsError::WrongSize(plaintext.len()));
        }
        Ok(plaintext.into())
    }
}
