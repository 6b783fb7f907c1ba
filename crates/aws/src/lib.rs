//! AWS adapters, compiled only with the binary's `aws` feature (ARCHITECTURE.md, "Defaults and
//! scale-out"): they replace the local ones without a change to the domain code.

pub mod config;
pub mod sns;
pub mod sqs;
/// Test helpers (a moto server of the test's own); small and without dependencies of their
/// own, so they are always compiled rather than behind a feature the binary would need too.
#[doc(hidden)]
pub mod testing;

pub use sns::SnsBus;
pub use sqs::{Delivery, QueueConsumer};
pub mod secrets;
pub use secrets::{AwsSecretRef, AwsSecrets};
pub mod kms;
pub use kms::KmsKek;
pub mod dynamodb;
pub use dynamodb::BooksTable;
