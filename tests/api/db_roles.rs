//! Least privilege on PostgreSQL: the README's SQL makes a migrator that owns the schema and a
//! service role with row rights only; `bookstore migrate` runs as the first
//! (`DATABASE_MIGRATION_URL`), the service as the second, and the second cannot change the
//! schema.

use crate::helpers::{binary, hobbit, spawn_on};
use sqlx::{Connection, Executor, PgConnection};

/// The README's roles SQL, for roles and a database of the test's own.
fn roles_sql(migrator: &str, service: &str, database: &str) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let block: String = readme
        .lines()
        .skip_while(|l| !l.starts_with("<!-- roles-sql:"))
        .skip(2)
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        block.contains("CREATE ROLE"),
        "the roles SQL is not in the README"
    );
    block
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|statement| {
            let statement = statement
                .replace("bookstore_migrator", migrator)
                .replace("bookstore_service", service);
            // The test's database exists already (made by the test helper): hand it over.
            if statement.starts_with("CREATE DATABASE") {
                return format!("ALTER DATABASE \"{database}\" OWNER TO {migrator}");
            }
            statement.replace("DATABASE bookstore ", &format!("DATABASE \"{database}\" "))
        })
        .collect()
}

fn role_url(url: &str, role: &str, password: &str) -> String {
    url.replacen("postgres@", &format!("{role}:{password}@"), 1)
}

/// The SQLSTATE of a statement that must fail.
async fn refused(conn: &mut PgConnection, statement: &str) -> String {
    let err = conn
        .execute(statement)
        .await
        .expect_err("the service role must not be allowed this");
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
        .unwrap_or_else(|| panic!("{statement}: {err}"))
}

#[tokio::test]
async fn the_service_role_has_row_rights_only_and_the_service_works_with_it() {
    let url = bookstore_store::testing::fresh_postgres_url().await;
    let database = url.rsplit('/').next().expect("database").to_owned();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let migrator = format!("bookstore_migrator_{suffix}");
    let service = format!("bookstore_service_{suffix}");
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    for statement in roles_sql(&migrator, &service, &database) {
        admin
            .execute(statement.as_str())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let migrator_url = role_url(&url, &migrator, "change-me-migrator");
    let service_url = role_url(&url, &service, "change-me-service");

    // Migrations as the owner.
    let data = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(binary())
        .arg("migrate")
        .env_clear()
        .env("BOOKSTORE_DATA_DIR", data.path())
        .env("DATABASE_URL", &service_url)
        .env("DATABASE_MIGRATION_URL", &migrator_url)
        .output()
        .expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let owner: String = sqlx::query_scalar(
        "SELECT tableowner::text FROM pg_tables WHERE schemaname = 'public' AND tablename = 'books'",
    )
    .fetch_one(&mut admin)
    .await
    .expect("owner");
    assert_eq!(owner, migrator);

    // The service with row rights only: the first admin made, signed in, a book written and read.
    {
        let app = spawn_on(Some(url.clone()), &[("DATABASE_URL", &service_url)]).await;
        let book = app.create_book(hobbit()).await;
        let id = book["id"].as_str().expect("id");
        let read = app.get(&format!("/books/{id}")).await;
        assert_eq!(read.status(), 200);
        assert_eq!(app.count("books").await, 1);
    }

    // And nothing more.
    let mut conn = PgConnection::connect(&service_url)
        .await
        .expect("connect as service");
    assert_eq!(refused(&mut conn, "DROP TABLE books").await, "42501");
    assert_eq!(
        refused(&mut conn, "ALTER TABLE books ADD COLUMN smuggled int").await,
        "42501"
    );
    assert_eq!(refused(&mut conn, "TRUNCATE books").await, "42501");
    assert_eq!(
        refused(&mut conn, "CREATE TABLE smuggled (x int)").await,
        "42501"
    );
    assert_eq!(
        refused(&mut conn, "DROP TABLE _sqlx_migrations").await,
        "42501"
    );
    // Rows, yes.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM books")
        .fetch_one(&mut conn)
        .await
        .expect("select");
    assert_eq!(n, 1);
    let _ = conn.close().await;
    let _ = admin.close().await;

    bookstore_store::testing::drop_postgres_database(&url).await;
    let mut server = PgConnection::connect(&bookstore_store::testing::admin_url())
        .await
        .expect("connect");
    for role in [&service, &migrator] {
        server
            .execute(format!("DROP ROLE IF EXISTS {role}").as_str())
            .await
            .expect("drop role");
    }
}
