//! A steady mix of writes from several clients (creates, edits, stock movements), each client
//! on books of its own so that no write of one can conflict with another's. It records every
//! write the server acknowledged with the event that write must produce, and the writes whose
//! outcome nobody can know (the server died before answering).
//!
//! The server under load may be replaced (killed and started again on another port): the
//! clients read where it is from [`Target`] before every request.

use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Where the server is now, and a token it takes.
#[derive(Clone)]
pub struct Target(Arc<RwLock<(String, String)>>);

impl Target {
    pub fn new(base: &str, token: &str) -> Self {
        Self(Arc::new(RwLock::new((base.to_owned(), token.to_owned()))))
    }

    pub fn set(&self, base: &str, token: &str) {
        if let Ok(mut target) = self.0.write() {
            *target = (base.to_owned(), token.to_owned());
        }
    }

    fn get(&self) -> (String, String) {
        self.0.read().map(|t| t.clone()).unwrap_or_default()
    }
}

/// A write the server answered with 2xx, and the event it must have produced.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acknowledged {
    pub book: String,
    pub version: i64,
    pub event_type: &'static str,
}

#[derive(Debug, Default)]
pub struct Ledger {
    pub acknowledged: Vec<Acknowledged>,
    /// Sent, and no answer came (the server died): committed or not, nobody knows.
    pub unknown: u64,
    /// Not sent: the server was not listening.
    pub refused: u64,
    /// Answered with an error status: each with its status and body.
    pub failed: Vec<String>,
}

/// The clients, running until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(target: &Target, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let isbns = Arc::new(AtomicU64::new(0));
        let http = Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client");
        let tasks = (0..clients)
            .map(|n| {
                let worker = Worker {
                    n,
                    http: http.clone(),
                    target: target.clone(),
                    ledger: ledger.clone(),
                    isbns: isbns.clone(),
                    books: Vec::new(),
                    doubtful: HashMap::new(),
                };
                tokio::spawn(worker.run(stop.clone()))
            })
            .collect();
        Self {
            stop,
            ledger,
            tasks,
        }
    }

    /// How many writes were acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.ledger
            .lock()
            .map(|l| l.acknowledged.len())
            .unwrap_or(0)
    }

    pub async fn finish(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("client task");
        }
        let mut ledger = self.ledger.lock().expect("ledger");
        std::mem::take(&mut *ledger)
    }
}

struct Worker {
    n: usize,
    http: Client,
    target: Target,
    ledger: Arc<Mutex<Ledger>>,
    isbns: Arc<AtomicU64>,
    /// This client's books and the version it last saw of each.
    books: Vec<(String, i64)>,
    /// Books with a write of unknown outcome: a 412 on them is that write having committed.
    doubtful: HashMap<String, ()>,
}

enum Outcome {
    Done(Acknowledged),
    /// Refused or unknown: already recorded.
    Lost,
    Failed(StatusCode, String),
}

impl Worker {
    async fn run(mut self, stop: Arc<AtomicBool>) {
        let mut step = 0_usize;
        while !stop.load(Ordering::Relaxed) {
            step += 1;
            let outcome = if self.books.len() < 3 || step.is_multiple_of(5) {
                self.create().await
            } else {
                let slot = (step * 7 + self.n) % self.books.len();
                if step % 5 < 3 {
                    self.move_stock(slot).await
                } else {
                    self.edit(slot).await
                }
            };
            match outcome {
                Outcome::Done(write) => {
                    if let Ok(mut ledger) = self.ledger.lock() {
                        ledger.acknowledged.push(write);
                    }
                }
                Outcome::Lost => tokio::time::sleep(Duration::from_millis(50)).await,
                Outcome::Failed(status, body) => {
                    if let Ok(mut ledger) = self.ledger.lock() {
                        ledger.failed.push(format!("{status}: {body}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn isbn(&self) -> String {
        // 979-1 and a per-test counter, with its check digit: unique within the test.
        let n = self.isbns.fetch_add(1, Ordering::Relaxed);
        let digits = format!("9791{n:08}");
        let sum: u32 = digits
            .chars()
            .filter_map(|c| c.to_digit(10))
            .enumerate()
            .map(|(i, d)| if i % 2 == 0 { d } else { d * 3 })
            .sum();
        format!("{digits}{}", (10 - sum % 10) % 10)
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        prepare: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        book: Option<&str>,
    ) -> Result<reqwest::Response, Outcome> {
        let (base, token) = self.target.get();
        let request = prepare(
            self.http
                .request(method, format!("{base}{path}"))
                .bearer_auth(token),
        );
        match request.send().await {
            Ok(response) => Ok(response),
            Err(err) => {
                let refused = err.is_connect();
                if let Ok(mut ledger) = self.ledger.lock() {
                    if refused {
                        ledger.refused += 1;
                    } else {
                        ledger.unknown += 1;
                    }
                }
                if let (false, Some(book)) = (refused, book) {
                    self.doubtful.insert(book.to_owned(), ());
                }
                Err(Outcome::Lost)
            }
        }
    }

    async fn create(&mut self) -> Outcome {
        let isbn = self.isbn();
        let body = json!({
            "isbn": isbn,
            "title": format!("Load {isbn}"),
            "authors": [format!("Client {}", self.n)],
            "price": {"amount_minor": 1000, "currency": "EUR"},
            "quantity": 5,
        });
        let response = match self
            .send(Method::POST, "/books", |r| r.json(&body), None)
            .await
        {
            Ok(response) => response,
            Err(outcome) => return outcome,
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status != StatusCode::CREATED {
            return Outcome::Failed(status, text);
        }
        let created: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let (Some(id), Some(version)) = (created["id"].as_str(), created["version"].as_i64())
        else {
            return Outcome::Failed(status, text);
        };
        self.books.push((id.to_owned(), version));
        Outcome::Done(Acknowledged {
            book: id.to_owned(),
            version,
            event_type: "bookstore.book.created",
        })
    }

    async fn move_stock(&mut self, slot: usize) -> Outcome {
        let book = self.books[slot].0.clone();
        let path = format!("/books/{book}/stock-movements");
        let response = match self
            .send(
                Method::POST,
                &path,
                |r| r.json(&json!({"kind": "receive", "quantity": 1})),
                Some(&book),
            )
            .await
        {
            Ok(response) => response,
            Err(outcome) => return outcome,
        };
        let status = response.status();
        let version = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim_matches('"').parse::<i64>().ok());
        let text = response.text().await.unwrap_or_default();
        match (status, version) {
            (StatusCode::CREATED, Some(version)) => {
                self.books[slot].1 = version;
                Outcome::Done(Acknowledged {
                    book,
                    version,
                    event_type: "bookstore.book.stock_adjusted",
                })
            }
            _ => Outcome::Failed(status, text),
        }
    }

    async fn edit(&mut self, slot: usize) -> Outcome {
        let (book, version) = self.books[slot].clone();
        let path = format!("/books/{book}");
        let patch = json!({"title": format!("Edited by {} at v{version}", self.n)});
        let response = match self
            .send(
                Method::PATCH,
                &path,
                |r| {
                    r.header(header::IF_MATCH, format!("\"{version}\""))
                        .header(header::CONTENT_TYPE, "application/merge-patch+json")
                        .body(patch.to_string())
                },
                Some(&book),
            )
            .await
        {
            Ok(response) => response,
            Err(outcome) => return outcome,
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == StatusCode::PRECONDITION_FAILED && self.doubtful.remove(&book).is_some() {
            // A write of unknown outcome on this book did commit: carry on from its version.
            if let Some(current) = answer["current_version"].as_i64() {
                self.books[slot].1 = current;
                return Outcome::Lost;
            }
        }
        match (status, answer["version"].as_i64()) {
            (StatusCode::OK, Some(version)) => {
                self.books[slot].1 = version;
                Outcome::Done(Acknowledged {
                    book,
                    version,
                    event_type: "bookstore.book.updated",
                })
            }
            _ => Outcome::Failed(status, text),
        }
    }
}
