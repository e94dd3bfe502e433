//! Without Docker, `Mode::Process`: the `eventstore-server` binary as a
//! child process, durable on a temporary directory, on 127.0.0.1 with a
//! free port; ready once it printed its readiness line and answers SERVING.

use crate::{
    embedded::server_binary, error::ContainerError, image::READINESS_LINE, readiness,
    tls::TlsSettings, workdir::Workdir,
};
use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant as StdInstant},
};
use tokio::{sync::oneshot, time::Instant};

/// Output of a child, shared with the threads that read it.
type Output = Arc<Mutex<String>>;

/// `eventstore-server` as a child process.
#[derive(Debug)]
pub(crate) struct ProcessStore {
    binary: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    output: Output,
    pub(crate) addr: SocketAddr,
    workdir: Workdir,
}

impl ProcessStore {
    /// Spawns the server on a free port and waits until it is ready.
    pub(crate) async fn start(
        env: Vec<(String, String)>,
        tls: Option<&TlsSettings>,
        deadline: Instant,
    ) -> Result<Self, ContainerError> {
        let binary = server_binary()?;
        let workdir = Workdir::new(tls)?;
        let mut env = env;
        env.extend(workdir.tls_env(tls));
        env.push((
            "EVENTSTORE_DATA_DIR".to_owned(),
            workdir.data_dir().display().to_string(),
        ));
        let mut store = Self {
            binary,
            env,
            child: None,
            output: Arc::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            workdir,
        };
        store.spawn_and_wait(tls, deadline).await?;
        Ok(store)
    }

    async fn spawn_and_wait(
        &mut self,
        tls: Option<&TlsSettings>,
        deadline: Instant,
    ) -> Result<(), ContainerError> {
        let started = StdInstant::now();
        let mut command = Command::new(&self.binary);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("EVENTSTORE_") {
                command.env_remove(key);
            }
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--listen")
            .arg(self.addr.to_string())
            .current_dir(self.workdir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_retrying(&mut command).map_err(|e| ContainerError::Start {
            what: format!("cannot run {}: {e}", self.binary.display()),
            logs: String::new(),
        })?;
        let (ready_tx, ready_rx) = oneshot::channel::<Option<SocketAddr>>();
        if let Some(stdout) = child.stdout.take() {
            let output = self.output.clone();
            std::thread::spawn(move || read_stdout(stdout, &output, ready_tx));
        }
        if let Some(stderr) = child.stderr.take() {
            let output = self.output.clone();
            std::thread::spawn(move || copy_output(stderr, &output));
        }
        self.child = Some(child);

        let line = match tokio::time::timeout_at(deadline, ready_rx).await {
            Ok(Ok(Some(addr))) => Ok(addr),
            Ok(_) => {
                let status = self.wait_exit(Duration::from_secs(1));
                Err(ContainerError::Start {
                    what: format!(
                        "{} exited before it was ready{status}",
                        self.binary.display()
                    ),
                    logs: String::new(),
                })
            }
            Err(_) => Err(ContainerError::Timeout {
                what: format!("{} printed no {READINESS_LINE:?}", self.binary.display()),
                after: started.elapsed(),
                logs: String::new(),
            }),
        };
        let result = match line {
            Ok(addr) => {
                self.addr = addr;
                readiness::wait_serving(&addr.to_string(), tls, deadline)
                    .await
                    .map_err(|e| ContainerError::Timeout {
                        what: e,
                        after: started.elapsed(),
                        logs: String::new(),
                    })
            }
            Err(e) => Err(e),
        };
        if let Err(error) = result {
            self.kill();
            return Err(error.with_logs(self.logs()));
        }
        Ok(())
    }

    /// ` (exit status ...)` once the child has exited, waiting up to `within`.
    fn wait_exit(&mut self, within: Duration) -> String {
        let Some(child) = &mut self.child else {
            return String::new();
        };
        let until = StdInstant::now() + within;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return format!(" ({status})"),
                Ok(None) if StdInstant::now() < until => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => return String::new(),
            }
        }
    }

    /// Stops the server gracefully (SIGTERM; SIGKILL after 10 s) and
    /// starts it again on the same port with the same data.
    pub(crate) async fn restart(
        &mut self,
        tls: Option<&TlsSettings>,
        deadline: Instant,
    ) -> Result<(), ContainerError> {
        self.terminate().await;
        self.output
            .lock()
            .map(|mut o| o.push_str("--- restarted by eventstore-container ---\n"))
            .ok();
        self.spawn_and_wait(tls, deadline).await
    }

    /// SIGTERM, then SIGKILL if still running after 10 s.
    pub(crate) async fn terminate(&mut self) {
        let Some(child) = &mut self.child else { return };
        #[cfg(unix)]
        {
            let sent = tokio::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if sent {
                let until = StdInstant::now() + Duration::from_secs(10);
                while StdInstant::now() < until {
                    if let Ok(Some(_)) = child.try_wait() {
                        self.child = None;
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        self.kill();
    }

    /// SIGKILL and reap.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything the server printed so far (stdout and stderr).
    pub(crate) fn logs(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Drop for ProcessStore {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns, retrying briefly on ETXTBSY (a binary just written may still be
/// open for writing in a child forked meanwhile by another thread).
fn spawn_retrying(command: &mut Command) -> std::io::Result<Child> {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(26) && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

/// Copies stdout into `output`, reporting the address of the readiness
/// line (or `None` at EOF without one).
fn read_stdout(stdout: impl Read, output: &Output, ready: oneshot::Sender<Option<SocketAddr>>) {
    let mut ready = Some(ready);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Ok(mut o) = output.lock() {
            o.push_str(&line);
            o.push('\n');
        }
        if let Some(rest) = line.split(READINESS_LINE).nth(1)
            && let Ok(addr) = rest.trim().parse::<SocketAddr>()
            && let Some(tx) = ready.take()
        {
            let _ = tx.send(Some(addr));
        }
    }
    if let Some(tx) = ready.take() {
        let _ = tx.send(None);
    }
}

fn copy_output(stream: impl Read, output: &Output) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        if let Ok(mut o) = output.lock() {
            o.push_str(&line);
            o.push('\n');
        }
    }
}
