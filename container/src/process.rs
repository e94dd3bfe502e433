//! Without Docker: the `eventstore-server` binary as a child process
//! (`Mode::Process`), or the same server in this process on its own
//! runtime (`Mode::Auto`'s fallback, `Mode::InProcess`). Both durable on a
//! temporary directory, both on 127.0.0.1 with a free port.

use crate::{
    ContainerError, TlsSettings,
    image::{READINESS_LINE, embedded_image_tag, embedded_server_binary},
    readiness,
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

/// Files the store keeps: its data, and the TLS files it reads.
#[derive(Debug)]
pub(crate) struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub(crate) fn new(tls: Option<&TlsSettings>) -> Result<Self, ContainerError> {
        let dir = tempfile::Builder::new()
            .prefix("eventstore-container-")
            .tempdir()
            .map_err(|e| ContainerError::Io(format!("cannot create a temporary directory: {e}")))?;
        let workdir = Self { dir };
        if let Some(tls) = tls {
            workdir.write("server.crt", &tls.cert)?;
            workdir.write("server.key", &tls.key)?;
            if let Some(ca) = &tls.client_ca {
                workdir.write("client-ca.crt", ca)?;
            }
        }
        Ok(workdir)
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<(), ContainerError> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, data)
            .map_err(|e| ContainerError::Io(format!("cannot write {}: {e}", path.display())))
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's TLS settings as `EVENTSTORE_*` variables.
    pub(crate) fn tls_env(&self, tls: Option<&TlsSettings>) -> Vec<(String, String)> {
        let Some(tls) = tls else { return Vec::new() };
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        let mut env = vec![
            ("EVENTSTORE_TLS_CERT".to_owned(), path("server.crt")),
            ("EVENTSTORE_TLS_KEY".to_owned(), path("server.key")),
        ];
        if tls.client_ca.is_some() {
            env.push(("EVENTSTORE_TLS_CLIENT_CA".to_owned(), path("client-ca.crt")));
        }
        env
    }
}

/// The `eventstore-server` binary: `$EVENTSTORE_SERVER_BIN`, else the
/// embedded static one, written once to the temporary directory.
pub(crate) fn server_binary() -> Result<PathBuf, ContainerError> {
    if let Some(path) = std::env::var_os("EVENTSTORE_SERVER_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(ContainerError::Config(format!(
                "EVENTSTORE_SERVER_BIN={} is not a file",
                path.display()
            )));
        }
        return Ok(path);
    }
    embedded_files().map(|(binary, _)| binary)
}

/// The embedded server written once (per content hash) to
/// `$TMPDIR/eventstore-server-<tag>/eventstore-server` (mode 755), next to
/// an empty directory `data`: the image's build context on disk.
pub(crate) fn embedded_files() -> Result<(PathBuf, PathBuf), ContainerError> {
    let (Some(binary), Some(tag)) = (embedded_server_binary(), embedded_image_tag()) else {
        return Err(ContainerError::Config(
            crate::image::NOT_EMBEDDED.to_owned(),
        ));
    };
    static WRITING: Mutex<()> = Mutex::new(());
    let _guard = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("eventstore-server-{tag}"));
    let path = dir.join("eventstore-server");
    let data = dir.join("data");
    let io = |e: std::io::Error| {
        ContainerError::Io(format!(
            "cannot write the embedded server to {}: {e}",
            dir.display()
        ))
    };
    if !std::fs::metadata(&path).is_ok_and(|m| m.len() == binary.len() as u64) {
        std::fs::create_dir_all(&dir).map_err(io)?;
        // Written under another name and renamed, so no one runs half a file.
        let partial = dir.join(format!(
            "eventstore-server.{}.{}.partial",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&partial, binary).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
                .map_err(io)?;
        }
        std::fs::rename(&partial, &path).map_err(io)?;
    }
    std::fs::create_dir_all(&data).map_err(io)?;
    Ok((path, data))
}

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
            .current_dir(self.workdir.dir.path())
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

/// The real server in this process, on a runtime (and thread) of its own,
/// so it does not depend on the caller's runtime.
#[derive(Debug)]
pub(crate) struct InProcessStore {
    args: Vec<String>,
    pub(crate) addr: SocketAddr,
    running: Option<Running>,
    /// Kept (and removed) with the store.
    _workdir: Workdir,
}

/// The thread serving the in-process store.
#[derive(Debug)]
struct Running {
    /// Graceful shutdown.
    stop: oneshot::Sender<()>,
    /// Immediate: drops the server's runtime.
    kill: oneshot::Sender<()>,
    /// Resolves once the server and its runtime are gone.
    done: oneshot::Receiver<()>,
    thread: std::thread::JoinHandle<()>,
}

/// How long a restart waits for the previous server's storage to close.
const STORAGE_RELEASE_PAUSE: Duration = Duration::from_millis(20);

impl InProcessStore {
    /// Starts `eventstore_server::run` with the `EVENTSTORE_*` settings of
    /// `env` (as flags), durable on a temporary directory.
    pub(crate) async fn start(
        env: &[(String, String)],
        tls: Option<&TlsSettings>,
        deadline: Instant,
    ) -> Result<Self, ContainerError> {
        let workdir = Workdir::new(tls)?;
        let mut all = env.to_vec();
        all.extend(workdir.tls_env(tls));
        if !all.iter().any(|(k, _)| k == "EVENTSTORE_DATA_DIR") {
            all.push((
                "EVENTSTORE_DATA_DIR".to_owned(),
                workdir.data_dir().display().to_string(),
            ));
        }
        let mut args = Vec::new();
        for (key, value) in &all {
            match key.strip_prefix("EVENTSTORE_") {
                Some("LISTEN") => {}
                Some(name) => {
                    args.push(format!("--{}", name.to_lowercase().replace('_', "-")));
                    args.push(value.clone());
                }
                None => tracing::debug!(
                    key,
                    "not an EVENTSTORE_* setting: ignored by the in-process server"
                ),
            }
        }
        let mut store = Self {
            args,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            running: None,
            _workdir: workdir,
        };
        store.run(tls, deadline).await?;
        Ok(store)
    }

    async fn run(
        &mut self,
        tls: Option<&TlsSettings>,
        deadline: Instant,
    ) -> Result<(), ContainerError> {
        let started = StdInstant::now();
        let mut argv = vec![
            "eventstore-server".to_owned(),
            "--listen".to_owned(),
            self.addr.to_string(),
        ];
        argv.extend(self.args.iter().cloned());
        let config =
            <eventstore_server::Config as clap::Parser>::try_parse_from(&argv).map_err(|e| {
                ContainerError::Start {
                    what: "invalid settings for the in-process server".to_owned(),
                    logs: e.to_string(),
                }
            })?;
        loop {
            match spawn_server(config.clone()).await {
                Ok((addr, running)) => {
                    self.addr = addr;
                    self.running = Some(running);
                    break;
                }
                // The previous server's storage closes just after it stops.
                Err(e)
                    if is_storage_lock(&e) && Instant::now() + STORAGE_RELEASE_PAUSE < deadline =>
                {
                    tokio::time::sleep(STORAGE_RELEASE_PAUSE).await;
                }
                Err(e) => {
                    return Err(ContainerError::Start {
                        what: "the in-process server did not start".to_owned(),
                        logs: format!("eventstore-server: {e}"),
                    });
                }
            }
        }
        if let Err(e) = readiness::wait_serving(&self.addr.to_string(), tls, deadline).await {
            self.kill();
            return Err(ContainerError::Timeout {
                what: e,
                after: started.elapsed(),
                logs: String::new(),
            });
        }
        Ok(())
    }

    /// Stops the server and starts it again on the same port and data.
    pub(crate) async fn restart(
        &mut self,
        tls: Option<&TlsSettings>,
        deadline: Instant,
    ) -> Result<(), ContainerError> {
        self.shutdown().await;
        self.run(tls, deadline).await
    }

    /// Graceful shutdown (requests in flight finish); returns once the
    /// server is gone. The caller's runtime keeps running meanwhile, so its
    /// own connections to the store can close.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = running.done.await;
            let _ = running.thread.join();
            drop(running.kill);
        }
    }

    /// Immediate stop, for `Drop`.
    fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.kill.send(());
            let _ = running.thread.join();
        }
    }
}

impl Drop for InProcessStore {
    fn drop(&mut self) {
        self.kill();
    }
}

fn is_storage_lock(error: &str) -> bool {
    error.contains("already open") || error.contains("acquire lock")
}

/// Starts the server on a thread and runtime of its own; returns its
/// address once it listens.
async fn spawn_server(config: eventstore_server::Config) -> Result<(SocketAddr, Running), String> {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel::<Result<SocketAddr, String>>();
    let thread = std::thread::Builder::new()
        .name("eventstore-in-process".to_owned())
        .spawn(move || {
            serve(config, stop_rx, kill_rx, ready_tx);
            let _ = done_tx.send(());
        })
        .map_err(|e| format!("cannot spawn the server thread: {e}"))?;
    match ready_rx.await {
        Ok(Ok(addr)) => Ok((
            addr,
            Running {
                stop: stop_tx,
                kill: kill_tx,
                done: done_rx,
                thread,
            },
        )),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err("the server thread ended".to_owned())
        }
    }
}

/// The server thread: its own runtime, until told to stop (gracefully) or
/// killed (its runtime dropped with everything on it).
fn serve(
    config: eventstore_server::Config,
    stop: oneshot::Receiver<()>,
    kill: oneshot::Receiver<()>,
    ready: oneshot::Sender<Result<SocketAddr, String>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("eventstore-in-process")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot build a runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async move {
        let shutdown = async move {
            let _ = stop.await;
        };
        match eventstore_server::run(&config, shutdown).await {
            Ok(server) => {
                let _ = ready.send(Ok(server.local_addr));
                drop(server.store);
                tokio::select! {
                    result = server.task => match result {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!("in-process eventstore-server: {e}"),
                        Err(e) => tracing::warn!("in-process eventstore-server task: {e}"),
                    },
                    _ = kill => {}
                }
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        }
    });
    runtime.shutdown_background();
}
