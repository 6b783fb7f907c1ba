//! Imports over HTTP on both stores: CSV files with every kind of bad row, header refusals,
//! dry runs, create_only, unchanged rows, 413/415/403, idempotency, a client that goes away,
//! and an import interrupted by a restart.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

/// `rows` books numbered from 1, with a description to make the file longer.
fn catalog_csv(rows: u32) -> Vec<u8> {
    let mut text = String::from("isbn,title,authors,genres,price,currency,quantity,description\n");
    for n in 1..=rows {
        text.push_str(&format!(
            "{},Book {n},Author {};Second Author,Genre {},9.99,EUR,{},\"A description of book {n}, long enough to take some room in the file.\"\n",
            isbn(n),
            n % 100,
            n % 10,
            n % 7
        ));
    }
    text.into_bytes()
}

/// Sends `chunks` chunks of `size` bytes with `Transfer-Encoding: chunked`; the status.
async fn chunked_upload(app: &TestApp, chunks: usize, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port()))
        .await
        .expect("connect");
    let head = format!(
        "POST /imports HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.admin_token
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    for _ in 0..chunks {
        let chunk = format!("{size:x}\r\n{}\r\n", "x".repeat(size));
        // The server may answer (and close) before the last chunk.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line")
}

async fn upload(
    app: &TestApp,
    query: &str,
    content_type: &str,
    file: Vec<u8>,
) -> reqwest::Response {
    app.request(Method::POST, &format!("/imports{query}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(file)
        .send()
        .await
        .expect("POST /imports")
}

/// Starts an import and waits until it is no longer running.
async fn import(app: &TestApp, query: &str, file: &[u8]) -> Value {
    let response = upload(app, query, "text/csv", file.to_vec()).await;
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let location = header(&response, header::LOCATION);
    let started = body(response).await;
    assert_eq!(
        location,
        format!("/imports/{}", started["id"].as_str().expect("id"))
    );
    finished(app, &location).await
}

async fn finished(app: &TestApp, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let import = body(app.get(location).await).await;
        if import["state"] != "running" {
            return import;
        }
        assert!(Instant::now() < deadline, "import still running: {import}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn counts(import: &Value) -> [u64; 5] {
    let c = &import["counts"];
    ["read", "created", "updated", "unchanged", "rejected"].map(|k| c[k].as_u64().expect(k))
}

both_stores!(
    a_csv_file_loads_its_valid_rows_and_lists_the_others,
    |backend| async move {
        let app = spawn(backend).await;
        let file = b"isbn,title,authors,quantity,description\n\
        9780261103344,The Hobbit,J. R. R. Tolkien,4,\"There and\nback again\"\n\
        123,Bad ISBN,,,\n\
        9780261102385,The Lord of the Rings (first),J. R. R. Tolkien,2,\"a\nb\"\n\
        9780261102385,The Lord of the Rings,J. R. R. Tolkien,3,\n\
        9780007117116,Bad \xff UTF-8,,,\n\
        9780261102217,Lost Tales,,lots,\n"
            .to_vec();
        let done = import(&app, "", &file).await;
        assert_eq!(done["state"], "done", "{done}");
        // The second row with 9780261102385 replaces the first: the later row wins.
        assert_eq!(counts(&done), [6, 2, 1, 0, 3]);
        assert_eq!(done["bytes_read"], file.len());
        assert_eq!(done["bytes_total"], file.len());
        assert_eq!(done["started_by"], "admin");
        assert_eq!(done["format"], "csv");

        let errors = body(
            app.get(&format!("/imports/{}/errors", done["id"].as_str().unwrap()))
                .await,
        )
        .await;
        let rows: Vec<(u64, String, String)> = errors["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64().expect("line"),
                    e["isbn"].as_str().unwrap_or("").to_owned(),
                    e["field"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        // Lines are physical lines: the quoted newlines count.
        assert_eq!(
            rows,
            [
                (4, "123".to_owned(), "isbn".to_owned()),
                (8, "9780007117116".to_owned(), "title".to_owned()),
                (9, "9780261102217".to_owned(), "quantity".to_owned()),
            ]
        );
        assert!(errors["items"][1]["message"]
            .as_str()
            .unwrap()
            .contains("UTF-8"));

        let lotr = body(app.get("/books/isbn/9780261102385").await).await;
        assert_eq!(
            (
                lotr["title"].as_str(),
                lotr["quantity"].as_i64(),
                lotr["version"].as_i64()
            ),
            (Some("The Lord of the Rings"), Some(3), Some(2))
        );
        let hobbit = body(app.get("/books/isbn/9780261103344").await).await;
        assert_eq!(hobbit["description"], "There and\nback again");
        assert_eq!(hobbit["authors"][0], "J. R. R. Tolkien");
        let id = hobbit["id"].as_str().unwrap().to_owned();
        let moves = body(app.get(&format!("/books/{id}/stock-movements")).await).await;
        assert_eq!(
            (
                moves["items"][0]["kind"].as_str(),
                moves["items"][0]["reason"].as_str()
            ),
            (Some("receive"), Some("import"))
        );

        // The same file again: nothing changes, nothing is written.
        let history = app.count("book_history").await;
        let events = app.count("outbox").await;
        let again = import(&app, "", &file).await;
        // The Hobbit is unchanged; the two rows of one ISBN change their book back and forth.
        assert_eq!(counts(&again), [6, 0, 2, 1, 3], "{again}");
        let hobbit_again = body(app.get("/books/isbn/9780261103344").await).await;
        assert_eq!(hobbit_again["version"], 1);
        assert_eq!(hobbit_again["updated_at"], hobbit["updated_at"]);
        assert_eq!(app.count("book_history").await, history + 2);
        assert_eq!(app.count("outbox").await, events + 2);

        // The rejected rows as CSV.
        let response = app
            .request(
                Method::GET,
                &format!("/imports/{}/errors", done["id"].as_str().unwrap()),
            )
            .header(header::ACCEPT, "text/csv")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        assert!(header(&response, header::CONTENT_TYPE).starts_with("text/csv"));
        let text = response.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "line,isbn,field,message,record_reference");
        assert!(lines[1].starts_with("4,\"123\",\"isbn\","), "{text}");
        assert_eq!(lines.len(), 4);
    }
);

both_stores!(
    a_bad_header_refuses_the_file_naming_the_column,
    |backend| async move {
        let app = spawn(backend).await;
        for (file, expected) in [
            (
                &b"isbn,title,colour\n9780261103344,X,red\n"[..],
                "unknown column 'colour'",
            ),
            (
                &b"isbn,subtitle\n9780261103344,X\n"[..],
                "required column 'title' is missing",
            ),
            (&b""[..], "header row"),
        ] {
            let response = upload(&app, "", "text/csv", file.to_vec()).await;
            assert_eq!(response.status(), 422);
            let problem = body(response).await;
            assert!(
                problem["detail"].as_str().unwrap().contains(expected),
                "{problem}"
            );
        }
        assert_eq!(app.count("imports").await, 0);
        assert_eq!(app.count("books").await, 0);
        let spool = app.data_dir.path().join("tmp").join("imports");
        assert_eq!(std::fs::read_dir(spool).map(|d| d.count()).unwrap_or(0), 0);
    }
);

both_stores!(create_only_and_dry_run, |backend| async move {
    let app = spawn(backend).await;
    app.create_book(hobbit()).await;
    let file = b"isbn,title\n9780261103344,Changed\n9780261102385,New\n".to_vec();
    let dry = import(&app, "?dry_run=true", &file).await;
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["state"].as_str()),
        (Some(true), Some("done"))
    );
    assert_eq!(counts(&dry), [2, 1, 1, 0, 0]);
    assert_eq!(app.count("books").await, 1);
    assert_eq!(
        body(app.get("/books/isbn/9780261103344").await).await["title"],
        "The Hobbit"
    );

    let created = import(&app, "?mode=create_only", &file).await;
    assert_eq!(created["mode"], "create_only");
    assert_eq!(counts(&created), [2, 1, 0, 0, 1]);
    let errors = body(
        app.get(&format!(
            "/imports/{}/errors",
            created["id"].as_str().unwrap()
        ))
        .await,
    )
    .await;
    assert_eq!(errors["items"][0]["line"], 2);
    assert_eq!(errors["items"][0]["field"], "isbn");
    assert_eq!(
        body(app.get("/books/isbn/9780261103344").await).await["title"],
        "The Hobbit"
    );
    assert_eq!(
        body(app.get("/books/isbn/9780261102385").await).await["title"],
        "New"
    );

    // Genres are named in a file: one that reads as an id is refused with its row.
    let ids = import(
        &app,
        "",
        b"isbn,title,genres\n9780007117116,Id genre,01890a5d-ac96-774b-bcce-b302099a8057\n",
    )
    .await;
    assert_eq!(counts(&ids), [1, 0, 0, 0, 1]);
    let errors = body(
        app.get(&format!("/imports/{}/errors", ids["id"].as_str().unwrap()))
            .await,
    )
    .await;
    assert_eq!(errors["items"][0]["field"], "genres[0]");

    let response = upload(&app, "?mode=merge", "text/csv", file.clone()).await;
    assert_eq!(response.status(), 422);
    let response = upload(&app, "?dry_run=perhaps", "text/csv", file).await;
    assert_eq!(response.status(), 422);
});

both_stores!(
    uploads_too_large_of_the_wrong_type_or_by_staff_are_refused,
    |backend| async move {
        let app = spawn_with(backend, &[("BOOKSTORE_IMPORT_LIMIT", "100")]).await;
        let response = upload(&app, "", "text/csv", catalog_csv(5)).await;
        assert_eq!(response.status(), 413);
        assert_eq!(
            header(&response, header::CONTENT_TYPE),
            "application/problem+json"
        );
        // Streamed without a length (chunked): refused once past the limit.
        assert_eq!(chunked_upload(&app, 10, 50).await, 413);
        let response = upload(&app, "", "application/json", b"{}".to_vec()).await;
        assert_eq!(response.status(), 415);
        app.add_user("clerk", "a long clerk password", "staff")
            .await;
        let token = app.sign_in("clerk", "a long clerk password").await;
        let response = app
            .anonymous(Method::POST, "/imports")
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "text/csv")
            .body(b"isbn,title\n".to_vec())
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 403);
        assert_eq!(app.count("imports").await, 0);
        let spool = app.data_dir.path().join("tmp").join("imports");
        assert_eq!(std::fs::read_dir(spool).map(|d| d.count()).unwrap_or(0), 0);
    }
);

both_stores!(an_idempotency_key_starts_one_import, |backend| async move {
    let app = spawn(backend).await;
    let send = |file: &'static [u8]| {
        app.request(Method::POST, "/imports")
            .header(header::CONTENT_TYPE, "text/csv")
            .header("idempotency-key", "import-1")
            .body(file)
            .send()
    };
    let first = send(b"isbn,title\n9780261103344,A\n").await.expect("POST");
    assert_eq!(first.status(), 202);
    let first = body(first).await;
    let again = send(b"isbn,title\n9780261103344,A\n").await.expect("POST");
    assert_eq!(again.status(), 202);
    assert_eq!(
        header(&again, "idempotent-replayed".parse().unwrap()),
        "true"
    );
    assert_eq!(body(again).await["id"], first["id"]);
    let other = send(b"isbn,title\n9780261103344,B\n").await.expect("POST");
    assert_eq!(other.status(), 422);
    assert_eq!(app.count("imports").await, 1);
});

both_stores!(
    an_import_goes_on_after_the_client_has_gone,
    |backend| async move {
        let app = spawn(backend).await;
        let file = catalog_csv(3000);
        let location = {
            // A client of its own, dropped (with its connection) as soon as it has the answer.
            let client = reqwest::Client::new();
            let response = client
                .post(app.url("/imports"))
                .bearer_auth(&app.admin_token)
                .header(header::CONTENT_TYPE, "text/csv")
                .body(file)
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status(), 202);
            header(&response, header::LOCATION)
        };
        let done = finished(&app, &location).await;
        assert_eq!(done["state"], "done", "{done}");
        assert_eq!(counts(&done), [3000, 3000, 0, 0, 0]);
        assert_eq!(app.count("books").await, 3000);
    }
);

both_stores!(
    an_import_interrupted_by_a_restart_is_failed,
    |backend| async move {
        let mut app = spawn(backend).await;
        let response = upload(&app, "", "text/csv", catalog_csv(40_000)).await;
        assert_eq!(response.status(), 202);
        let location = header(&response, header::LOCATION);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let import = body(app.get(&location).await).await;
            assert_eq!(
                import["state"], "running",
                "finished before the restart: {import}"
            );
            if import["counts"]["created"].as_u64().unwrap_or(0) > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.kill();
        if let Some(url) = &app.database_url {
            // As if the heartbeat had gone stale meanwhile: replicas wait a minute for that.
            let pool = sqlx::PgPool::connect(url).await.expect("connect");
            sqlx::query("UPDATE imports SET heartbeat_at = heartbeat_at - interval '2 minutes'")
                .execute(&pool)
                .await
                .expect("age the heartbeat");
            pool.close().await;
        }
        let restarted = app.replica(&[]).await;
        let import = body(restarted.get(&location).await).await;
        assert_eq!(import["state"], "failed", "{import}");
        assert_eq!(import["failure"], "interrupted by a restart");
        let created = import["counts"]["created"].as_i64().unwrap();
        assert!(created > 0 && created < 40_000, "{import}");
        // What it committed stays: at least the batches it had recorded.
        assert!(app.count("books").await >= created);
        let spool = app.data_dir.path().join("tmp").join("imports");
        assert_eq!(std::fs::read_dir(spool).map(|d| d.count()).unwrap_or(0), 0);
    }
);

/// At SIGTERM a running import stops after its batch and is recorded as interrupted at once:
/// on PostgreSQL no replica has to wait for its heartbeat to go stale.
#[tokio::test]
async fn sigterm_hands_a_running_import_back() {
    let mut app = spawn(Backend::Postgres).await;
    let response = upload(&app, "", "text/csv", catalog_csv(40_000)).await;
    assert_eq!(response.status(), 202);
    let location = header(&response, header::LOCATION);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let import = body(app.get(&location).await).await;
        assert_eq!(import["state"], "running", "finished too soon: {import}");
        if import["counts"]["created"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = app.terminate();
    assert!(status.success(), "{status:?}\n{}", app.logs());
    // The heartbeat is fresh: only the stopping process can have failed it.
    let restarted = app.replica(&[]).await;
    let import = body(restarted.get(&location).await).await;
    assert_eq!(import["state"], "failed", "{import}");
    assert_eq!(import["failure"], "interrupted by a restart");
    let created = import["counts"]["created"].as_i64().unwrap();
    assert!(created > 0 && created < 40_000, "{import}");
    // Every batch written is counted, the one written ahead of the stop too.
    assert_eq!(app.count("books").await, created, "{import}");
}

both_stores!(
    a_row_lowering_the_stock_below_the_default_location_is_rejected_alone,
    |backend| async move {
        let app = spawn(backend).await;
        let first = b"isbn,title,quantity\n\
        9780261103344,The Hobbit,5\n\
        9780140328721,Matilda,5\n";
        assert_eq!(counts(&import(&app, "", first).await), [2, 2, 0, 0, 0]);
        // Three of The Hobbit's five copies go to another store: `main` keeps two.
        let response = app
            .post_json(
                "/locations",
                &serde_json::json!({"code": "north", "name": "North", "kind": "store"}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let hobbit = body(app.get("/books/isbn/9780261103344").await).await;
        let id = hobbit["id"].as_str().expect("id");
        let response = app
            .post_json(
                &format!("/books/{id}/stock-movements"),
                &serde_json::json!({"kind": "transfer", "quantity": 3,
                                    "from_location": "main", "to_location": "north"}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let hobbit = body(app.get(&format!("/books/{id}")).await).await;

        // Down to 1 would take four copies from `main`, which holds two: that row alone is
        // rejected, the others load.
        let second = b"isbn,title,quantity\n\
        9780261103344,The Hobbit,1\n\
        9780261102385,Lud-in-the-Mist,2\n\
        9780140328721,Matilda,3\n";
        let done = import(&app, "", second).await;
        assert_eq!(done["state"], "done");
        assert_eq!(counts(&done), [3, 1, 1, 0, 1]);
        let errors = body(
            app.get(&format!(
                "/imports/{}/errors",
                done["id"].as_str().expect("id")
            ))
            .await,
        )
        .await;
        let error = &errors["items"][0];
        assert_eq!(
            (&error["line"], &error["isbn"], &error["field"]),
            (
                &serde_json::json!(2),
                &serde_json::json!("9780261103344"),
                &serde_json::json!("quantity")
            )
        );
        assert!(
            error["message"].as_str().expect("message").contains("(2)"),
            "{error}"
        );
        assert_eq!(errors["items"].as_array().expect("items").len(), 1);
        assert_eq!(body(app.get(&format!("/books/{id}")).await).await, hobbit);
        let matilda = body(app.get("/books/isbn/9780140328721").await).await;
        assert_eq!(
            (&matilda["quantity"], &matilda["version"]),
            (&serde_json::json!(3), &serde_json::json!(2))
        );
        let lud = body(app.get("/books/isbn/9780261102385").await).await;
        assert_eq!(lud["quantity"], 2);
    }
);

// The CLI on PostgreSQL writes each batch as two transactions side by side (its default), its
// rows parted by ISBN: the rows of one ISBN must still apply in file order, within a batch and
// across batches, and the outcomes must come back to their rows (a summary that adds up, a
// rejected row named by its line); and the new books must be exported in the file's order,
// whichever transaction committed first.
both_stores!(
    the_cli_applies_the_rows_of_an_isbn_in_file_order,
    |backend| async move {
        let app = spawn(backend).await;
        let mut text = String::from("isbn,title,authors,quantity\n");
        for n in 1..=1200u32 {
            // The seventh book again at rows 10 and 600 (its first batch) and 1100 (the next).
            let row = match n {
                10 | 600 | 1100 => format!("{},Seven {n},Author {},{n}\n", isbn(7), n % 50),
                _ => format!("{},Book {n},Author {},{n}\n", isbn(n), n % 50),
            };
            text.push_str(&row);
            if n == 700 {
                text.push_str("not-an-isbn,Broken,,\n");
            }
        }
        let file = app.data_dir.path().join("books.csv");
        std::fs::write(&file, text).expect("write the file");
        let errors = app.data_dir.path().join("rejected.csv");
        let mut command = std::process::Command::new(binary());
        command
            .args(["import", file.to_str().expect("path")])
            .args(["--errors-file", errors.to_str().expect("path")])
            .env_clear()
            .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
            .env("BOOKSTORE_LOG", "warn");
        if let Some(url) = &app.database_url {
            command.env("DATABASE_URL", url);
        }
        let out = command.output().expect("run the CLI");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "a row was rejected: {stdout}");
        assert!(
            stdout.contains("1201 rows read")
                && stdout.contains(": 1197 created, 3 updated, 0 unchanged, 1 rejected"),
            "{stdout}"
        );
        let rejected = std::fs::read_to_string(&errors).expect("the rejected rows");
        assert!(
            rejected.contains("\n702,"),
            "the line of the bad row: {rejected}"
        );

        let seven = app.get(&format!("/books/isbn/{}", isbn(7))).await;
        assert_eq!(seven.status(), StatusCode::OK);
        let seven: Value = seven.json().await.expect("json");
        assert_eq!(seven["title"], "Seven 1100");
        assert_eq!(seven["version"], 4);
        assert_eq!(seven["quantity"], 1100);

        let export = app
            .request(Method::GET, "/books/export")
            .header(header::ACCEPT, "text/csv")
            .send()
            .await
            .expect("export");
        let export = export.text().await.expect("the export");
        let exported: Vec<&str> = export
            .lines()
            .skip(1)
            .map(|line| line.split(',').next().expect("isbn"))
            .collect();
        let in_file: Vec<String> = (1..=1200u32)
            .filter(|n| ![10, 600, 1100].contains(n))
            .map(isbn)
            .collect();
        assert_eq!(exported, in_file, "the new books in file order");
    }
);

/// A failure that no validation foresees (here the database refuses one book) ends a CLI
/// import where it is: the batches written before it stay, and the CLI says what they hold:
/// exactly the books in the store, although the writers work ahead of one another.
#[tokio::test]
async fn a_cli_import_that_fails_midway_says_what_it_wrote() {
    let app = spawn(Backend::Postgres).await;
    let url = app.database_url.clone().expect("PostgreSQL");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let refused = isbn(2600);
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION test_refuse_book() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.isbn = '{refused}' THEN RAISE EXCEPTION 'refused for the test'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER test_refuse_book BEFORE INSERT ON books \
         FOR EACH ROW EXECUTE FUNCTION test_refuse_book();"
    ))
    .execute(&pool)
    .await
    .expect("the refusing trigger");
    let file = app.data_dir.path().join("books.csv");
    std::fs::write(&file, catalog_csv(6000)).expect("write the file");
    let out = std::process::Command::new(binary())
        .args(["import", file.to_str().expect("path")])
        .env_clear()
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("BOOKSTORE_LOG", "warn")
        .env("DATABASE_URL", &url)
        .output()
        .expect("run the CLI");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused for the test"), "{stderr}");
    let created: i64 = stderr
        .split("written before it: ")
        .nth(1)
        .and_then(|rest| rest.split(" created").next())
        .and_then(|rest| rest.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("what was written: {stderr}"));
    // The two batches before the refused row's are whole; its own wrote nothing in the
    // refused row's part; the rest is cut short.
    assert!((2000..6000).contains(&created), "{created}: {stderr}");
    assert_eq!(app.count("books").await, created, "{stderr}");
    let refused_in_store: i64 = sqlx::query_scalar("SELECT count(*) FROM books WHERE isbn = $1")
        .bind(&refused)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(refused_in_store, 0);
}
