//! Connections over raw sockets: answers given before a body was read reach the client (and
//! keep the connection when the body is small), and idle connections are closed.

use crate::helpers::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const ROUNDS: usize = 100;

struct Answer {
    status: u16,
    headers: String,
}

impl Answer {
    fn closes(&self) -> bool {
        self.headers
            .lines()
            .any(|l| l.to_ascii_lowercase().replace(' ', "") == "connection:close")
    }
}

/// Reads one response (head and a `Content-Length` body) from `stream`.
fn read_answer(stream: &mut TcpStream) -> std::io::Result<Answer> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(ErrorKind::InvalidData)?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok(Answer {
        status,
        headers: head,
    })
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

/// Sends a POST with `body` (the whole of it, as simple clients do before they read) and
/// reads the answer.
fn post(stream: &mut TcpStream, headers: &str, body: &[u8]) -> std::io::Result<Answer> {
    let head = format!(
        "POST /books HTTP/1.1\r\nHost: test\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_answer(stream)
}

fn healthz(stream: &mut TcpStream) -> std::io::Result<Answer> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")?;
    read_answer(stream)
}

#[tokio::test]
async fn early_answers_reach_the_client_and_small_bodies_keep_the_connection() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            // Small, so that 1 KB is already too large for the 413 case.
            ("BOOKSTORE_BODY_LIMIT", "512"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", "100000/s"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "100000"),
            ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
            ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
        ],
    )
    .await;
    let port = app.port();
    let token = app.admin_token.clone();
    let logs = tokio::task::spawn_blocking(move || {
        let bearer = format!("Authorization: Bearer {token}\r\n");
        let cases = [
            (415, format!("{bearer}Content-Type: text/plain\r\n")),
            (401, "Content-Type: application/json\r\n".to_owned()),
            (413, format!("{bearer}Content-Type: application/json\r\n")),
        ];
        let mut report = Vec::new();
        for size in [1024, 100 * 1024, 5 * 1024 * 1024] {
            let body = vec![b'x'; size];
            for (status, headers) in &cases {
                let (mut right, mut kept, mut closed) = (0, 0, 0);
                for _ in 0..ROUNDS {
                    let mut stream = connect(port);
                    let answer = post(&mut stream, headers, &body);
                    let Ok(answer) = answer else { continue };
                    if answer.status != *status {
                        continue;
                    }
                    right += 1;
                    if answer.closes() {
                        // Closed the lingering way: nothing more arrives, the close is clean.
                        let mut rest = Vec::new();
                        if stream.read_to_end(&mut rest).is_ok() && rest.is_empty() {
                            closed += 1;
                        }
                    } else if healthz(&mut stream).is_ok_and(|a| a.status == 200) {
                        kept += 1;
                    }
                }
                report.push((size, *status, right, kept, closed));
            }
        }
        report
    })
    .await
    .expect("the client ran");
    for (size, status, right, kept, closed) in logs {
        assert_eq!(right, ROUNDS, "{status} with {size} bytes: right answers");
        if size <= 100 * 1024 {
            assert_eq!(
                kept, ROUNDS,
                "{status} with {size} bytes: the next request on the connection"
            );
        } else {
            assert_eq!(
                closed, ROUNDS,
                "{status} with {size} bytes is past the bound: Connection: close, clean close"
            );
        }
    }
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_CLIENT_HEADER_TIMEOUT", "1"),
            ("BOOKSTORE_KEEPALIVE_TIMEOUT", "2"),
        ],
    )
    .await;
    let port = app.port();
    tokio::task::spawn_blocking(move || {
        let closed_within = |stream: &mut TcpStream| {
            let started = Instant::now();
            let mut buf = [0u8; 64];
            match stream.read(&mut buf) {
                Ok(0) => started.elapsed(),
                Ok(n) => panic!("unexpected bytes: {:?}", &buf[..n]),
                Err(err) if err.kind() == ErrorKind::ConnectionReset => started.elapsed(),
                Err(err) => panic!("still open after {:?}: {err}", started.elapsed()),
            }
        };

        // Sends nothing at all: closed after the header timeout.
        let mut silent = connect(port);
        let waited = closed_within(&mut silent);
        assert!(waited >= Duration::from_millis(800), "{waited:?}");
        assert!(waited < Duration::from_secs(8), "{waited:?}");

        // Starts a request and stalls: the same bound.
        let mut slow = connect(port);
        slow.write_all(b"GET /healthz HTTP/1.1\r\n").expect("write");
        let waited = closed_within(&mut slow);
        assert!(waited < Duration::from_secs(8), "{waited:?}");

        // Keep-alive: a connection in use stays open past both bounds...
        let mut busy = connect(port);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            std::thread::sleep(Duration::from_millis(500));
            assert_eq!(healthz(&mut busy).expect("served").status, 200);
        }
        // ...and is closed once idle past the keep-alive bound, not the header bound.
        let waited = closed_within(&mut busy);
        assert!(waited >= Duration::from_millis(1500), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
    })
    .await
    .expect("the client ran");
    // The server still serves.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_nul_in_a_header_is_refused_before_it_reaches_anything() {
    let app = spawn(Backend::Sqlite).await;
    let port = app.port();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = connect(port);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Request-Id: a\0b\r\n\r\n")
            .expect("write");
        read_answer(&mut stream)
    })
    .await
    .expect("the client ran");
    // hyper refuses the header itself, before any layer or handler sees it.
    let answer = answer.expect("an answer");
    assert_eq!(answer.status, 400, "{}", answer.headers);
    assert!(
        !app.logs().contains("\"level\":\"ERROR\""),
        "{}",
        app.logs()
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}
