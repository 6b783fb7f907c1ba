//! The process's own series, read from `/proc/self` at each scrape (Linux; elsewhere only the
//! uptime and start time): the names and meanings of Prometheus's client libraries, so that
//! dashboards made for any service read them.

use std::fmt::Write;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The kernel's clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 on every Linux
/// architecture since 2.6, whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

struct Start {
    at: Instant,
    unix_seconds: f64,
}

static START: OnceLock<Start> = OnceLock::new();

/// Notes the start of the process (the recorder is installed first thing).
pub fn start() {
    START.get_or_init(|| Start {
        at: Instant::now(),
        unix_seconds: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    });
}

fn series(text: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
    let _ = writeln!(text, "{name} {value}");
    let _ = writeln!(text);
}

/// User plus system CPU seconds, from fields 14 and 15 of `/proc/self/stat` (counted after
/// the command name, which may hold spaces and parentheses).
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / USER_HZ)
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// The soft limit of open files, from `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Appends the process series to `text`.
pub fn render(text: &mut String) {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        if let Some(cpu) = cpu_seconds(&stat) {
            series(
                text,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                cpu,
            );
        }
    }
    if let Some(rss) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| resident_bytes(&s))
    {
        series(
            text,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss,
        );
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of the entries.
        let open = entries.count().saturating_sub(1);
        series(
            text,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            open as f64,
        );
    }
    if let Some(max) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| max_fds(&s))
    {
        series(
            text,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    if let Some(start) = START.get() {
        series(
            text,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            start.unix_seconds,
        );
        series(
            text,
            "bookstore_uptime_seconds",
            "gauge",
            "Seconds since the process started.",
            start.at.elapsed().as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_formats() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        let status = "Name:\tbookstore\nVmHWM:\t  9000 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(resident_bytes(status), Some(2048.0 * 1024.0));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_fds(limits), Some(1024.0));
    }

    #[test]
    fn renders_the_process_series() {
        start();
        let mut text = String::new();
        render(&mut text);
        assert!(
            text.contains("# TYPE bookstore_uptime_seconds gauge"),
            "{text}"
        );
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_open_fds",
            ] {
                assert!(text.contains(&format!("\n{name} ")), "{name} in {text}");
            }
        }
    }
}
