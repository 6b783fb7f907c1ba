//! The key-encryption key under KMS (issue 19 §4): `BOOKSTORE_KEK=kms:alias/…` makes a data
//! key with GenerateDataKey, keeps only its wrapped copy, and a second process given that
//! wrapped copy (`kms:alias/…#WRAPPED`, as replicas are) unwraps it with Decrypt and opens the
//! signing keys the first one sealed: both sign in.

use super::unique;
use crate::helpers::*;
use bookstore_aws::testing::Moto;

#[tokio::test]
async fn the_service_starts_with_a_kms_wrapped_kek_and_signs_in() {
    let Some(moto) = Moto::start("the_service_starts_with_a_kms_wrapped_kek") else {
        return;
    };
    let config = moto.sdk_config();
    let kms = aws_sdk_kms::Client::new(&config);
    let key = kms
        .create_key()
        .description("bookstore test KEK")
        .send()
        .await
        .expect("create key")
        .key_metadata
        .expect("metadata")
        .key_id;
    let alias = format!("alias/{}", unique("bookstore-kek"));
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&key)
        .send()
        .await
        .expect("create alias");

    let url = bookstore_store::testing::fresh_postgres_url().await;
    let moto_env = moto.env();
    let kek = format!("kms:{alias}");
    let env = super::env_with(&moto_env, &[("BOOKSTORE_KEK", kek.as_str())]);
    // spawn_on signs in: the signing key was made and sealed with the KMS data key.
    let mut first = spawn_on(Some(url.clone()), &env).await;
    first.create_book(hobbit()).await;
    let wrapped = std::fs::read_to_string(first.data_dir.path().join("kek.kms"))
        .expect("the wrapped data key in the data directory");
    assert!(!wrapped.trim().is_empty());
    assert!(
        first.logs().contains("made a key-encryption key under KMS"),
        "{}",
        first.logs()
    );
    assert!(
        !first.data_dir.path().join("kek").exists(),
        "no local KEK file"
    );
    first.terminate();

    // A replica: no data directory of its own, the wrapped copy in its setting.
    let shared = format!("kms:{alias}#{}", wrapped.trim());
    let env = super::env_with(&moto_env, &[("BOOKSTORE_KEK", shared.as_str())]);
    let second = spawn_on(Some(url), &env).await;
    assert_eq!(second.get("/books").await.status(), 200);
    assert!(
        second
            .logs()
            .contains("key-encryption key unwrapped by KMS"),
        "{}",
        second.logs()
    );
    assert!(!second.data_dir.path().join("kek.kms").exists());
}
