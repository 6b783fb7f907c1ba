//! Helpers for tests (of this crate and of the black-box tests): a `nats-server -js` of the
//! test's own, on a port it picks and reports, with its own store directory; and a look at
//! what a JetStream stream holds. Enabled by the `testing` feature.
//!
//! These helpers panic on failure, as test code does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Whether a missing tool fails the test (`CI` set, as CI sets it) or skips it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// `nats-server` on the PATH or where Debian puts it.
pub fn nats_server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// A `nats-server` with JetStream, stopped (by force) when dropped.
pub struct NatsServer {
    binary: PathBuf,
    child: Option<Child>,
    dir: TempDir,
    port: u16,
    starts: u32,
}

impl NatsServer {
    /// A fresh server; `None` (the test skips, saying so) when `nats-server` is not installed
    /// outside CI. Under CI a missing `nats-server` fails the test: one that did not run must
    /// not pass.
    pub fn start(test: &str) -> Option<Self> {
        let Some(binary) = nats_server_binary() else {
            assert!(
                !under_ci(),
                "nats-server is not installed, and CI is set: {test} must run. ./scripts/test \
                 installs it when it runs as root with apt-get; otherwise `sudo apt-get install \
                 nats-server`"
            );
            eprintln!(
                "SKIPPED {test}: nats-server is not installed (./scripts/test installs it when \
                 it runs as root with apt-get; otherwise `sudo apt-get install nats-server`). \
                 Under CI=true this is a failure."
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self {
            binary,
            child: None,
            dir,
            port: 0,
            starts: 0,
        };
        server.launch(None);
        Some(server)
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log (all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server as an operator would (SIGTERM: it flushes its store and closes its
    /// connections) and waits until it is gone.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "could not signal nats-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port with the same store (its streams and their messages
    /// are still there).
    pub fn restart(&mut self) {
        self.stop();
        self.launch(Some(self.port));
    }

    /// Runs the server; with `None`, on a port it picks, which its ports file reports (no port
    /// is chosen here and then raced for).
    fn launch(&mut self, port: Option<u16>) {
        self.starts += 1;
        let ports_dir = self.dir.path().join(format!("ports-{}", self.starts));
        std::fs::create_dir_all(&ports_dir).expect("ports dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        let port_arg = port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let mut child = Command::new(&self.binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port_arg])
            .arg("-sd")
            .arg(self.dir.path().join("store"))
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(port) = reported_port(&ports_dir) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "nats-server exited ({status}) before listening; log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.port = port;
        self.child = Some(child);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The client port in the ports file (`{"nats":["nats://127.0.0.1:PORT"]}`), once written.
fn reported_port(dir: &Path) -> Option<u16> {
    let entry = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().ends_with(".ports"))?;
    let text = std::fs::read_to_string(entry.path()).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = ports.get("nats")?.get(0)?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

/// A message of a stream, as the tests look at it.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub sequence: u64,
    pub subject: String,
    /// `Nats-Msg-Id`
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    pub payload: serde_json::Value,
}

/// Every message of `stream` on the server at `url`, in stream order.
pub async fn stream_messages(url: &str, stream: &str) -> Vec<StoredMessage> {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let mut handle = js.get_stream(stream).await.expect("the stream exists");
    let state = handle.info().await.expect("stream info").state.clone();
    let mut messages = Vec::new();
    if state.messages == 0 {
        return messages;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let Ok(message) = handle.get_raw_message(sequence).await else {
            continue; // deleted
        };
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|value| value.as_str().to_owned())
        };
        messages.push(StoredMessage {
            sequence: message.sequence,
            subject: message.subject.to_string(),
            message_id: header("Nats-Msg-Id"),
            content_type: header("Content-Type"),
            payload: serde_json::from_slice(&message.payload).expect("JSON payload"),
        });
    }
    messages
}

/// Whether `stream` exists on the server at `url`, and its subjects.
pub async fn stream_subjects(url: &str, stream: &str) -> Option<Vec<String>> {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let mut handle = js.get_stream(stream).await.ok()?;
    Some(
        handle
            .info()
            .await
            .expect("stream info")
            .config
            .subjects
            .clone(),
    )
}
