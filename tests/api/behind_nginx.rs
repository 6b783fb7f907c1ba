//! Two replicas behind nginx, as deploy/nginx/bookstore.conf describes: nginx terminates TLS
//! and balances; sign-in, create and read go through it and both replicas serve requests.
//!
//! Needs nginx, which `./scripts/test` installs. When it is missing the test fails under CI
//! (`CI=true`) and otherwise skips with a message saying so.

use crate::both_stores;
use crate::helpers::*;
use crate::tls::{client_trusting, TestCa};
use bookstore_events::testing::under_ci;
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXAMPLE: &str = include_str!("../../deploy/nginx/bookstore.conf");

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// nginx's path; `None` (skip, saying so) when it is missing outside CI. Under CI a missing
/// nginx is a failure: a test that did not run must not pass.
pub fn nginx() -> Option<PathBuf> {
    if let Some(found) = find_nginx() {
        return Some(found);
    }
    assert!(
        !under_ci(),
        "nginx is not installed, and CI is set: behind_nginx must run in CI. ./scripts/test \
         installs it when it runs as root with apt-get; otherwise `sudo apt-get install nginx`"
    );
    eprintln!(
        "SKIPPED behind_nginx: nginx is not installed (./scripts/test installs it when it runs \
         as root with apt-get; otherwise `sudo apt-get install nginx`). Under CI=true this is a \
         failure."
    );
    None
}

/// An nginx process that is stopped (gracefully, then by force) when dropped.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example with its placeholders replaced (each must be there), balancing over
/// `replicas` (two or more: the example's second upstream line is repeated for the others).
fn example_config(replicas: &[u16], port: u16, cert: &Path, key: &Path) -> String {
    assert!(
        replicas.len() >= 2,
        "the example balances over two replicas or more"
    );
    const SECOND: &str = "    server 127.0.0.1:8082 max_fails=3 fail_timeout=10s;  # replica 2\n";
    let second_and_more = replicas[1..]
        .iter()
        .enumerate()
        .map(|(i, port)| {
            SECOND
                .replace("8082", &port.to_string())
                .replace("replica 2", &format!("replica {}", i + 2))
        })
        .collect::<String>();
    let replacements = [
        ("127.0.0.1:8081", format!("127.0.0.1:{}", replicas[0])),
        (SECOND, second_and_more),
        // reuseport: the test holds the port (see `reserved_port`) until nginx has it.
        (
            "listen 443 ssl",
            format!("listen 127.0.0.1:{port} ssl reuseport"),
        ),
        (
            "/etc/nginx/tls/books.example.com.fullchain.pem",
            cert.display().to_string(),
        ),
        (
            "/etc/nginx/tls/books.example.com.key.pem",
            key.display().to_string(),
        ),
    ];
    let mut config = EXAMPLE.to_owned();
    for (from, to) in replacements {
        assert!(
            config.contains(from),
            "deploy/nginx/bookstore.conf no longer contains {from:?}"
        );
        config = config.replace(from, &to);
    }
    config
}

pub fn start_nginx(binary: &Path, ca: &TestCa, port: u16, replicas: &[u16]) -> Nginx {
    let dir = tempfile::tempdir().expect("dir");
    // nginx's workers drop root privileges; they must reach the temp directories.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let path = |name: &str| dir.path().join(name);
    let leaf = ca.leaf("books.example.com");
    std::fs::write(path("cert.pem"), &leaf.chain_pem).expect("cert");
    std::fs::write(path("key.pem"), &leaf.key_pem).expect("key");
    std::fs::write(
        path("bookstore.conf"),
        example_config(replicas, port, &path("cert.pem"), &path("key.pem")),
    )
    .expect("site config");
    let d = dir.path().display();
    std::fs::write(
        path("nginx.conf"),
        format!(
            "worker_processes 1;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             \x20   access_log {d}/access.log;\n\
             \x20   client_body_temp_path {d}/client_body;\n\
             \x20   proxy_temp_path {d}/proxy;\n\
             \x20   fastcgi_temp_path {d}/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/uwsgi;\n\
             \x20   scgi_temp_path {d}/scgi;\n\
             \x20   include {d}/bookstore.conf;\n\
             }}\n"
        ),
    )
    .expect("main config");
    let child = Command::new(binary)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(path("error.log"))
        .arg("-c")
        .arg(path("nginx.conf"))
        .arg("-g")
        .arg(format!("daemon off; pid {d}/nginx.pid;"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    Nginx { child, dir, port }
}

/// A loopback port for nginx, held by a socket that binds it with `SO_REUSEPORT` and does not
/// listen: no other process can take the port meanwhile, nginx (`listen … reuseport`, same
/// user) can bind it too, and every connection goes to nginx, the only one listening.
pub fn reserved_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("address").port();
    (socket, port)
}

pub async fn wait_for_nginx(nginx: &mut Nginx, client: &reqwest::Client) {
    let url = format!("https://127.0.0.1:{}/readyz", nginx.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(&url).send().await {
            if response.status() == 200 {
                return;
            }
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited ({status}):\n{}", nginx.error_log());
        }
        assert!(
            Instant::now() < deadline,
            "nginx did not become ready:\n{}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_stores!(two_replicas_behind_nginx, |backend| async move {
    let Some(binary) = nginx() else {
        return;
    };
    // Replicas share the URL clients use, and so the issuer of the tokens they sign.
    let (_reservation, port) = reserved_port();
    let base = format!("https://127.0.0.1:{port}");
    let env = [("BOOKSTORE_PUBLIC_URL", base.as_str())];
    let first = spawn_with(backend, &env).await;
    let second = first.replica(&env).await;
    let ca = TestCa::new();
    let mut nginx = start_nginx(&binary, &ca, port, &[first.port(), second.port()]);
    let client = client_trusting(&ca.pem, false);
    wait_for_nginx(&mut nginx, &client).await;
    let discovery = body(
        client
            .get(format!("{base}/.well-known/openid-configuration"))
            .send()
            .await
            .expect("discovery"),
    )
    .await;
    assert_eq!(discovery["issuer"], base.as_str());

    // Sign in, create and read, all through nginx: each request may land on either replica.
    let response = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200, "{}", nginx.error_log());
    let token = body(response).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let response = client
        .post(format!("{base}/books"))
        .bearer_auth(&token)
        .json(&hobbit())
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 201);
    let id = body(response).await["id"].as_str().expect("id").to_owned();
    for _ in 0..4 {
        let response = client
            .get(format!("{base}/books/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read");
        assert_eq!(response.status(), 200);
        assert_eq!(body(response).await["title"], "The Hobbit");
    }

    // Both replicas serve: requests tagged with our own ids show up in both logs, and the
    // ids and the trace come back through nginx.
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for i in 0..8 {
        let response = client
            .request(Method::GET, format!("{base}/books"))
            .bearer_auth(&token)
            .header("x-request-id", format!("via-nginx-{i}"))
            .header("traceparent", traceparent)
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "x-request-id".parse().expect("name")),
            format!("via-nginx-{i}")
        );
        assert!(header(&response, "traceparent".parse().expect("name"))
            .starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
        assert!(!header(
            &response,
            "strict-transport-security".parse().expect("name")
        )
        .is_empty());
    }
    for (name, replica) in [("first", &first), ("second", &second)] {
        assert!(
            replica.logs().contains("\"request_id\":\"via-nginx-"),
            "the {name} replica served none of the requests:\n{}",
            replica.logs()
        );
    }
    // Without an id of the client's, nginx gives the request its own.
    let response = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("health");
    let id = header(&response, "x-request-id".parse().expect("name"));
    assert_eq!(id.len(), 32, "{id}");
    assert!(first.logs().contains(&id) || second.logs().contains(&id));
});

/// Replicas of one database must name one issuer: each defaults to its own address, so
/// without `BOOKSTORE_PUBLIC_URL` (or `BOOKSTORE_ISSUER`) a token one replica issued is
/// refused by the next. The server says so at start, and one shared public URL mends it.
#[tokio::test]
async fn replicas_share_an_issuer_only_when_given_one() {
    const WARNING: &str = "neither BOOKSTORE_PUBLIC_URL nor BOOKSTORE_ISSUER is set";
    let first = spawn_with(Backend::Postgres, &[]).await;
    assert!(first.logs().contains(WARNING), "{}", first.logs());
    let second = first.replica(&[]).await;
    let read_with = |app: &TestApp, token: &str| {
        app.client
            .get(format!("{}/books", app.base))
            .bearer_auth(token)
            .send()
    };
    let refused = read_with(&second, &first.admin_token).await.expect("GET");
    assert_eq!(refused.status(), 401);

    let shared = [("BOOKSTORE_PUBLIC_URL", "https://books.example.com")];
    let first = spawn_with(Backend::Postgres, &shared).await;
    assert!(!first.logs().contains(WARNING), "{}", first.logs());
    let second = first.replica(&shared).await;
    let accepted = read_with(&second, &first.admin_token).await.expect("GET");
    assert_eq!(accepted.status(), 200);

    // One process on SQLite is no replica: no warning there.
    let alone = spawn(Backend::Sqlite).await;
    assert!(!alone.logs().contains(WARNING), "{}", alone.logs());
}
