//! A PostgreSQL cluster of a test's own: `initdb` in a temporary directory, served on a free
//! loopback port with its socket in that directory, started, restarted and stopped by the
//! test (`pg_ctl`). The shared server of the other tests is never touched. Run as the
//! `postgres` user when the tests run as root (PostgreSQL refuses root).

use bookstore_events::testing::under_ci;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

pub struct PrivatePostgres {
    bin: PathBuf,
    dir: TempDir,
    pub port: u16,
    /// Run the tools as this user (`postgres` when the tests run as root).
    user: Option<String>,
}

/// The newest installed server's tools (Debian keeps them in /usr/lib/postgresql/N/bin);
/// `None` if there is none: the caller skips, or fails under CI.
fn server_tools() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A loopback port that nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

impl PrivatePostgres {
    /// A new cluster, made but not started; `None` (said) when PostgreSQL's server tools are
    /// not installed, outside CI.
    pub fn init() -> Option<PrivatePostgres> {
        let Some(bin) = server_tools() else {
            assert!(
                !under_ci(),
                "PostgreSQL's server tools (initdb, pg_ctl) are needed under CI"
            );
            eprintln!("skipped: no PostgreSQL server tools in /usr/lib/postgresql/*/bin");
            return None;
        };
        let dir = tempfile::tempdir().expect("dir");
        let user = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &user {
            let status = Command::new("chown")
                .args([user.as_str(), &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(status.success());
        }
        let cluster = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
            user,
        };
        let data = cluster.data().display().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = match &self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    fn ctl(&self, action: &str, extra: &[&str]) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.socket_dir().display()
        );
        let mut args = vec!["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60"];
        args.extend_from_slice(extra);
        args.push(action);
        self.run("pg_ctl", &args);
    }

    pub fn start(&self) {
        self.ctl("start", &[]);
    }

    /// A fast restart: sessions are ended at once, as in a failover or an upgrade.
    pub fn restart(&self) {
        self.ctl("restart", &["-m", "fast"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let data = self.data().display().to_string();
            let program = self.bin.join("pg_ctl");
            let mut command = match &self.user {
                Some(user) => {
                    let mut command = Command::new("runuser");
                    command.args(["-u", user, "--"]).arg(&program);
                    command
                }
                None => Command::new(&program),
            };
            let _ = command
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}
