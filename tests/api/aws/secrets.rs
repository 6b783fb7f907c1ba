//! Secrets Manager and Parameter Store as secret sources (issue 19 §3): the database URL from
//! a secret's JSON key, the admin password from a SecureString parameter; a rotation of the
//! secret (a new AWSCURRENT version) is picked up without a restart and put to use.

use super::unique;
use crate::helpers::*;
use crate::secrets::{latest_load, wait_for_version};
use bookstore_aws::testing::Moto;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_secret_rotated_in_secrets_manager_is_picked_up_without_a_restart() {
    let Some(moto) = Moto::start("a_secret_rotated_in_secrets_manager") else {
        return;
    };
    let config = moto.sdk_config();
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let url = bookstore_store::testing::fresh_postgres_url().await;
    let name = unique("bookstore");
    let first = sm
        .create_secret()
        .name(format!("{name}/database"))
        .secret_string(serde_json::json!({"url": url, "note": "first"}).to_string())
        .send()
        .await
        .expect("create secret");
    let first_version = first.version_id.expect("version id");
    let parameter = format!("/{name}/admin_password");
    ssm.put_parameter()
        .name(&parameter)
        .value(ADMIN_PASSWORD)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("put parameter");

    let database_ref = format!("aws-sm:{name}/database#url");
    let password_ref = format!("aws-ssm:{parameter}");
    let moto_env = moto.env();
    let env = super::env_with(
        &moto_env,
        &[
            ("DATABASE_URL", database_ref.as_str()),
            ("BOOKSTORE_ADMIN_PASSWORD", password_ref.as_str()),
            ("BOOKSTORE_SECRET_RELOAD_INTERVAL", "1"),
        ],
    );
    // Signed in (spawn does) with the password only the parameter held.
    let app = spawn_on(Some(url.clone()), &env).await;
    app.create_book(hobbit()).await;
    let loaded = latest_load(&app, "DATABASE_URL").await;
    assert_eq!(loaded["details"]["source"], database_ref.as_str());
    assert_eq!(loaded["details"]["version"], first_version.as_str());
    let password = latest_load(&app, "BOOKSTORE_ADMIN_PASSWORD").await;
    assert_eq!(password["details"]["source"], password_ref.as_str());
    assert_eq!(password["details"]["version"], "1");

    // Rotation: new credentials (here the same role, with an application name) become
    // AWSCURRENT.
    let marker = unique("rotated").replace('-', "_");
    let separator = if url.contains('?') { '&' } else { '?' };
    let rotated_url = format!("{url}{separator}application_name={marker}");
    let second = sm
        .put_secret_value()
        .secret_id(format!("{name}/database"))
        .secret_string(serde_json::json!({"url": rotated_url, "note": "second"}).to_string())
        .send()
        .await
        .expect("rotate");
    let second_version = second.version_id.expect("version id");
    assert_ne!(second_version, first_version);
    let reloaded = wait_for_version(&app, "DATABASE_URL", &second_version).await;
    assert_eq!(reloaded["details"]["reloaded"], true);

    // Put to use: the store takes the new URL for its new connections (what a new URL does to
    // the pool is the Vault tests' and the store's business; here, that it reaches it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !app.logs().contains("database credentials changed") {
        assert!(
            Instant::now() < deadline,
            "not applied; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/books").await.status(), 200);
    crate::secrets::assert_nowhere(&app, &[ADMIN_PASSWORD]).await;
}
