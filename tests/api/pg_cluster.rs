//! A PostgreSQL primary and a streaming replica of the test's own: `initdb` into a temporary
//! directory (small and fast: 16 MB of shared buffers, no fsync), `pg_basebackup -R` for the
//! replica, each on a free loopback port with its socket in the directory. Run as root, the
//! servers run as `postgres` (PostgreSQL refuses root), through `runuser`.
//!
//! Both servers are stopped, and the directory deleted, when the cluster is dropped.

use bookstore_events::testing::under_ci;
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub struct PgCluster {
    bin: PathBuf,
    dir: TempDir,
    pub primary_port: u16,
    pub replica_port: u16,
    as_postgres: bool,
}

/// The newest PostgreSQL server binaries Debian installed.
fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| {
            ["initdb", "pg_ctl", "pg_basebackup"]
                .iter()
                .all(|tool| bin.join(tool).is_file())
        })
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl PgCluster {
    /// A primary and a replica, running; `None` (the test skips, saying so) without the
    /// server binaries outside CI. Under CI their absence fails the test.
    pub async fn start(test: &str) -> Option<Self> {
        let Some(bin) = server_binaries() else {
            assert!(
                !under_ci(),
                "the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not \
                 installed, and CI is set: {test} must run. ./scripts/test installs them \
                 (Debian package postgresql)"
            );
            eprintln!(
                "SKIPPED {test}: the PostgreSQL server binaries are not installed (Debian \
                 package postgresql). Under CI=true this is a failure."
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("bookstore-replica-test")
            .tempdir()
            .expect("temp dir");
        let cluster = Self {
            bin,
            primary_port: free_port(),
            replica_port: free_port(),
            as_postgres: is_root(),
            dir,
        };
        if cluster.as_postgres {
            cluster.run_as_root(Command::new("chown").args([
                "postgres:postgres",
                &cluster.dir.path().display().to_string(),
            ]));
        }
        cluster.tool(
            "initdb",
            &[
                "-D",
                &cluster.data("primary"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.configure(
            "primary",
            cluster.primary_port,
            "wal_level = replica\nmax_wal_senders = 4\nwal_keep_size = '64MB'\n",
        );
        cluster.pg_ctl("primary", "start");
        cluster.tool(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &cluster.data("replica"),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        // The backup carries the primary's settings; the replica's own come after them.
        cluster.configure("replica", cluster.replica_port, "hot_standby = on\n");
        cluster.pg_ctl("replica", "start");
        Some(cluster)
    }

    fn data(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn socket_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Runs a PostgreSQL tool (as `postgres` when the test runs as root), panicking with
    /// its output when it fails.
    fn tool(&self, name: &str, args: &[&str]) {
        let binary = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        command.args(args).current_dir(self.dir.path());
        let out = command.output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{name} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn run_as_root(&self, command: &mut Command) {
        let status = command.status().expect("run");
        assert!(status.success(), "{command:?} failed");
    }

    /// Appends the test's settings to a server's `postgresql.conf` (the file belongs to the
    /// server's user; appending as root keeps its owner).
    fn configure(&self, name: &str, port: u16, extra: &str) {
        let path = Path::new(&self.data(name)).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text.push_str(&format!(
            "\n# bookstore replica test\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nshared_buffers = '16MB'\nfsync = off\n\
             full_page_writes = off\nmax_connections = 60\n\
             shared_preload_libraries = 'pg_stat_statements'\n{extra}",
            self.socket_dir()
        ));
        std::fs::write(&path, text).expect("write postgresql.conf");
    }

    fn pg_ctl(&self, name: &str, action: &str) {
        let log = self
            .dir
            .path()
            .join(format!("{name}.log"))
            .display()
            .to_string();
        let data = self.data(name);
        let mut args = vec!["-D", data.as_str(), "-w", "-t", "60"];
        match action {
            "start" => args.extend(["-l", log.as_str()]),
            "stop" => args.extend(["-m", "fast"]),
            _ => {}
        }
        args.push(action);
        self.tool("pg_ctl", &args);
    }

    /// A URL of database `db` on the primary.
    pub fn primary_url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.primary_port)
    }

    pub fn replica_url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.replica_port)
    }

    /// Sets the replica's `recovery_min_apply_delay` and reloads it.
    pub fn delay_replay(&self, delay: &str) {
        let path = Path::new(&self.data("replica")).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text.push_str(&format!("recovery_min_apply_delay = '{delay}'\n"));
        std::fs::write(&path, text).expect("write postgresql.conf");
        self.pg_ctl("replica", "reload");
    }

    pub fn stop_replica(&self) {
        self.pg_ctl("replica", "stop");
    }

    /// Waits until the replica has replayed everything the primary has written now.
    pub async fn wait_for_replay(&self, db: &str) {
        let mut primary = PgConnection::connect(&self.primary_url(db))
            .await
            .expect("primary");
        let target: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut primary)
            .await
            .expect("lsn");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut replica) = PgConnection::connect(&self.replica_url(db)).await {
                let caught_up: Option<bool> =
                    sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
                        .bind(&target)
                        .fetch_one(&mut replica)
                        .await
                        .ok()
                        .flatten();
                if caught_up == Some(true) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the replica did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        for name in ["replica", "primary"] {
            let mut command = if self.as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"])
                    .arg(self.bin.join("pg_ctl"));
                c
            } else {
                Command::new(self.bin.join("pg_ctl"))
            };
            let _ = command
                .args(["-D", &self.data(name), "-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}
