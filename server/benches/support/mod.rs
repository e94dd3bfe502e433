//! What the server benches share: spawning the release server on
//! loopback, connecting clients, latency percentiles and number formatting.

// Each bench uses a different part of this module.
#![allow(dead_code)]

use eventstore_proto::event_store_client::EventStoreClient;
use std::{error::Error, process::Stdio, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use tonic::transport::{Channel, Endpoint};

pub mod callgrind;
pub mod floor;

pub type BoxError = Box<dyn Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;
pub type Client = EventStoreClient<Channel>;

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a valid number").into()),
        Err(_) => Ok(default),
    }
}

/// The spawned server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    pub async fn spawn(flags: &[String]) -> Result<Self> {
        Self::start(Self::server_command(flags)).await
    }

    /// The command that runs the server on `127.0.0.1:0` with `flags`.
    pub fn server_command(flags: &[String]) -> Command {
        // `EVENTSTORE_SERVER_BIN` runs another build (e.g. to compare a change).
        let bin = std::env::var_os("EVENTSTORE_SERVER_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_eventstore-server").into());
        let mut command = Command::new(bin);
        command.args(["--listen", "127.0.0.1:0"]).args(flags);
        command
    }

    /// The do-nothing floor service ([`floor`]) served the `kind` way, in a
    /// process of its own: this bench executable, re-run with
    /// [`floor::SERVE_VAR`] set.
    pub async fn spawn_floor(kind: floor::FloorKind) -> Result<Self> {
        Self::start(Self::floor_command(kind)?).await
    }

    /// The command that runs the floor service served the `kind` way.
    pub fn floor_command(kind: floor::FloorKind) -> Result<Command> {
        let mut command = Command::new(std::env::current_exe()?);
        command.env(floor::SERVE_VAR, kind.var_value());
        Ok(command)
    }

    /// Starts `command` and waits for its readiness line.
    pub async fn start(mut command: Command) -> Result<Self> {
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // Generous: a durable server replays its whole log before the line (1M
        // events take ~12 s on a busy 2-CPU machine).
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .map_err(|_| "no readiness line within 120 s")??
            .ok_or("eventstore-server exited before it was ready")?;
        let addr = line
            .strip_prefix("eventstore-server listening on ")
            .ok_or_else(|| format!("unexpected readiness line: {line}"))?
            .trim()
            .to_owned();
        Ok(Self { child, addr })
    }

    /// `n` clients, each on its own HTTP/2 connection.
    pub async fn connect(&self, n: usize) -> Result<Vec<Client>> {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            let channel = Endpoint::from_shared(format!("http://{}", self.addr))?
                .tcp_nodelay(true)
                .connect()
                .await?;
            clients.push(
                EventStoreClient::new(channel)
                    .max_decoding_message_size(64 * 1024 * 1024)
                    .max_encoding_message_size(64 * 1024 * 1024),
            );
        }
        Ok(clients)
    }

    /// CPU time the server process has used so far (Linux only).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&self.child.id()?.to_string())
    }

    /// Resident memory of the server process (`VmRSS`, Linux only).
    pub fn resident_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// User plus system CPU time of process `pid` ("self" for this one), from
/// `/proc/<pid>/stat`; `None` where there is no procfs.
pub fn cpu_time_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn mean(&self) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }

    pub fn p50(&self) -> Duration {
        self.percentile(50.0)
    }

    pub fn p99(&self) -> Duration {
        self.percentile(99.0)
    }
}

pub fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}
