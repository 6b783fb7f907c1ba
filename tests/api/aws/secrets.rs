//! Secrets Manager and Parameter Store as secret sources (issue 19 §3): the database URL from
//! a secret's JSON key, the admin password from a SecureString parameter; a rotation of the
//! secret (a new AWSCURRENT version) is picked up without a restart and put to use: new
//! PostgreSQL connections are opened with the rotated URL (another role), the earlier ones
//! drain.

use super::unique;
use crate::helpers::*;
use crate::secrets::{latest_load, wait_for_version};
use bookstore_aws::testing::Moto;
use sqlx::{Connection, Executor};
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
    // Two login roles, the second a member of the first (so it may use the tables the first
    // creates): the first is in the secret at the start, the second after the rotation, so
    // that the sessions tell which URL each connection was opened with.
    let database = url.rsplit('/').next().expect("database").to_owned();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (first_role, second_role) = (format!("smrot_a_{suffix}"), format!("smrot_b_{suffix}"));
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect");
    for statement in [
        format!("CREATE ROLE {first_role} LOGIN PASSWORD 'first'"),
        format!("ALTER DATABASE \"{database}\" OWNER TO {first_role}"),
        format!("CREATE ROLE {second_role} LOGIN PASSWORD 'second' IN ROLE {first_role}"),
    ] {
        admin.execute(statement.as_str()).await.expect("roles");
    }
    let as_role =
        |role: &str, password: &str| url.replacen("postgres@", &format!("{role}:{password}@"), 1);
    let name = unique("bookstore");
    let first = sm
        .create_secret()
        .name(format!("{name}/database"))
        .secret_string(
            serde_json::json!({"url": as_role(&first_role, "first"), "note": "first"}).to_string(),
        )
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

    // Rotation: new credentials (the second role) become AWSCURRENT.
    let rotated_url = as_role(&second_role, "second");
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

    // Put to use: the store takes the new URL for its new connections.
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
    // While requests go on, the connections opened with the first role's URL drain and new
    // ones are opened with the second's.
    let sessions = |role: &str| {
        format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' \
             AND usename = '{role}'"
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut old, mut new) = (i64::MAX, 0i64);
    let mut written = 0;
    while old > 0 || new == 0 {
        assert!(
            Instant::now() < deadline,
            "{old} connections with the first URL left, {new} with the rotated one; log:\n{}",
            app.logs()
        );
        written += 1;
        let mut book = hobbit();
        book["isbn"] = serde_json::json!(isbn(700 + written));
        app.create_book(book).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        old = sqlx::query_scalar(&sessions(&first_role))
            .fetch_one(&mut admin)
            .await
            .expect("pg_stat_activity");
        new = sqlx::query_scalar(&sessions(&second_role))
            .fetch_one(&mut admin)
            .await
            .expect("pg_stat_activity");
    }
    assert_eq!(app.get("/books").await.status(), 200);
    crate::secrets::assert_nowhere(&app, &[ADMIN_PASSWORD]).await;
    eprintln!(
        "Secrets Manager rotation: {new} connections with the rotated URL, none left with the \
         first, after {written} writes"
    );

    drop(app);
    let _ = admin.close().await;
    bookstore_store::testing::drop_postgres_database(&url).await;
    let mut server = sqlx::PgConnection::connect(&bookstore_store::testing::admin_url())
        .await
        .expect("connect");
    for role in [&second_role, &first_role] {
        server
            .execute(format!("DROP ROLE IF EXISTS {role}").as_str())
            .await
            .expect("drop role");
    }
}
