//! Instruction counts of a server process, from valgrind's callgrind.
//!
//! Wall and CPU times drift on a shared 2-CPU machine; the number of
//! instructions a process executes for the same work does not (the same
//! total comes back with the other CPU loaded). The bench runs a server
//! under `valgrind --tool=callgrind`, stops it with SIGTERM so that it exits
//! normally and callgrind writes its totals, and reads the `totals:` line.
//!
//! Start-up and shut-down cost the same whatever the load, so a figure per
//! operation is the difference of two runs that do `n` and `m` operations,
//! over `m - n`: [`per_operation`].

use super::{Result, Server};
use std::{path::PathBuf, process::Stdio, time::Duration};
use tokio::process::Command;

/// Whether `valgrind` can be run here.
pub fn available() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A server process running under callgrind.
pub struct Counted {
    pub server: Server,
    out_file: PathBuf,
}

impl Counted {
    /// Starts `command` under callgrind, writing its counts to `out_file`.
    pub async fn start(command: &Command, out_file: PathBuf) -> Result<Self> {
        let inner = command.as_std();
        let mut wrapped = Command::new("valgrind");
        wrapped
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            // Valgrind's own messages would only clutter the bench's output.
            .arg("--quiet")
            .arg(inner.get_program())
            .args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        Ok(Self {
            server: Server::start(wrapped).await?,
            out_file,
        })
    }

    /// Sends SIGTERM, waits for the process to exit, and returns the
    /// instructions it executed in all.
    pub async fn stop(mut self) -> Result<u64> {
        let pid = self
            .server
            .child
            .id()
            .ok_or("the counted server has exited")?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -TERM {pid} failed: {status}").into());
        }
        // Slow under valgrind: the server drains its connections and exits.
        tokio::time::timeout(Duration::from_secs(120), self.server.child.wait())
            .await
            .map_err(|_| format!("process {pid} did not exit within 120 s of SIGTERM"))??;
        let text = std::fs::read_to_string(&self.out_file)
            .map_err(|e| format!("cannot read {}: {e}", self.out_file.display()))?;
        let _ = std::fs::remove_file(&self.out_file);
        text.lines()
            .find_map(|line| line.strip_prefix("totals:"))
            .and_then(|total| total.split_whitespace().next())
            .and_then(|total| total.parse().ok())
            .ok_or_else(|| format!("no totals line in {}", self.out_file.display()).into())
    }
}

/// Instructions per operation from two runs of `n` and `m` operations
/// (`m > n`): what start-up and shut-down cost cancels out.
pub fn per_operation(total_n: u64, n: usize, total_m: u64, m: usize) -> Option<f64> {
    (m > n).then(|| (total_m as f64 - total_n as f64) / (m - n) as f64)
}
