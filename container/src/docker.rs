//! Talking to the Docker engine, through bollard (the client
//! testcontainers is built on). Each operation connects afresh (a unix
//! socket connect is cheap), so no connection pool outlives the runtime of
//! the test that made it, and `Drop` works from any thread.

use crate::{
    error::ContainerError,
    labels::{self, LABEL_KEY, LABEL_VALUE, PID_LABEL, REUSE_LABEL, SESSION_LABEL, session_id},
    readiness,
    tls::TlsSettings,
};
use bollard::{
    Docker,
    container::LogOutput,
    models::{ContainerCreateBody, HostConfig, PortBinding},
    query_parameters::{
        CreateContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
        StopContainerOptions, UploadToContainerOptions,
    },
};
use eventstore_engine::assembly::error_chain;
use futures::StreamExt;
use std::{
    collections::HashMap,
    time::{Duration, Instant as StdInstant},
};
use tokio::time::Instant;

/// How long the engine has to answer the first call.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Seconds `docker stop` waits for SIGTERM before SIGKILL.
const STOP_TIMEOUT_SECS: i32 = 10;

/// Where TLS files go inside the container.
const TLS_DIR: &str = "/tls";

/// A client of the engine at `host` (DOCKER_HOST or the platform default
/// when `None`), once the engine has answered (`/version`, which also
/// settles the API version).
pub(crate) async fn connect(host: Option<&str>) -> Result<Docker, ContainerError> {
    let unavailable = |cause: String| ContainerError::DockerUnavailable { cause };
    let docker = match host {
        Some(host) => Docker::connect_with_host(host),
        None => Docker::connect_with_defaults(),
    }
    .map_err(|e| unavailable(error_chain(&e)))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(unavailable(format!(
            "{}: {}",
            describe_host(host),
            error_chain(&e)
        ))),
        Err(_) => Err(unavailable(format!(
            "{} did not answer within {PING_TIMEOUT:?}",
            describe_host(host)
        ))),
    }
}

fn describe_host(host: Option<&str>) -> String {
    match host
        .map(str::to_owned)
        .or_else(|| std::env::var("DOCKER_HOST").ok())
    {
        Some(host) => format!("the engine at {host}"),
        None => "the engine at the default socket (/var/run/docker.sock)".to_owned(),
    }
}

/// What a Docker-mode store needs to (re)start and be reached.
#[derive(Debug)]
pub(crate) struct DockerStore {
    pub(crate) docker_host: Option<String>,
    pub(crate) id: String,
    pub(crate) host_port: u16,
    /// How many times the server has been started in this container.
    pub(crate) runs: usize,
    /// A reused container is left running when the handle goes.
    pub(crate) reused: bool,
    pub(crate) removed: bool,
}

/// Everything a container is created from.
#[derive(Debug, Clone)]
pub(crate) struct DockerSpec {
    pub(crate) reference: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) reuse_key: Option<String>,
    pub(crate) readiness_line: Option<String>,
    pub(crate) container_port: u16,
}

impl DockerSpec {
    fn env_list(&self) -> Vec<String> {
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(tls) = &self.tls {
            env.push(format!("EVENTSTORE_TLS_CERT={TLS_DIR}/server.crt"));
            env.push(format!("EVENTSTORE_TLS_KEY={TLS_DIR}/server.key"));
            if tls.client_ca.is_some() {
                env.push(format!("EVENTSTORE_TLS_CLIENT_CA={TLS_DIR}/client-ca.crt"));
            }
        }
        env
    }

    fn labels(&self) -> HashMap<String, String> {
        let mut labels = labels::owner_labels();
        if let Some(key) = &self.reuse_key {
            labels.insert(REUSE_LABEL.to_owned(), key.clone());
        }
        labels
    }
}

/// Creates and starts a container of `spec`, and waits until it is ready.
pub(crate) async fn start(
    docker: &Docker,
    docker_host: Option<String>,
    spec: &DockerSpec,
    deadline: Instant,
) -> Result<DockerStore, ContainerError> {
    if spec.reuse_key.is_some()
        && let Some(store) = find_reusable(docker, docker_host.clone(), spec, deadline).await?
    {
        return Ok(store);
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let host_port = free_port()?;
        let id = create(docker, spec, host_port).await?;
        let mut store = DockerStore {
            docker_host: docker_host.clone(),
            id,
            host_port,
            runs: 1,
            reused: false,
            removed: false,
        };
        match docker.start_container(&store.id, None).await {
            Ok(()) => {}
            Err(e) if attempt < 4 && port_taken(&e) => {
                tracing::debug!(host_port, "host port taken meanwhile; trying another");
                remove(docker, &store.id).await;
                continue;
            }
            Err(e) => {
                let error = ContainerError::Start {
                    what: format!(
                        "cannot start a container of {}: {}",
                        spec.reference,
                        error_chain(&e)
                    ),
                    logs: String::new(),
                };
                return Err(fail(docker, &mut store, error).await);
            }
        }
        return match wait_ready(docker, &store, spec, deadline).await {
            Ok(()) => Ok(store),
            Err(error) => Err(fail(docker, &mut store, error).await),
        };
    }
}

/// Attaches the container's logs to `error` and removes the container.
async fn fail(docker: &Docker, store: &mut DockerStore, error: ContainerError) -> ContainerError {
    let logs = logs(docker, &store.id)
        .await
        .unwrap_or_else(|e| format!("(cannot read the container's logs: {e})"));
    remove(docker, &store.id).await;
    store.removed = true;
    error.with_logs(logs)
}

fn port_taken(e: &bollard::errors::Error) -> bool {
    let text = e.to_string();
    text.contains("port is already allocated") || text.contains("address already in use")
}

/// A free TCP port on 127.0.0.1, to publish the container's port on (so
/// the endpoint stays the same across restarts).
pub(crate) fn free_port() -> Result<u16, ContainerError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ContainerError::Io(format!("cannot find a free port on 127.0.0.1: {e}")))
}

async fn create(
    docker: &Docker,
    spec: &DockerSpec,
    host_port: u16,
) -> Result<String, ContainerError> {
    let port_key = format!("{}/tcp", spec.container_port);
    let body = ContainerCreateBody {
        image: Some(spec.reference.clone()),
        env: Some(spec.env_list()),
        labels: Some(spec.labels()),
        exposed_ports: Some(vec![port_key.clone()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                port_key,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(host_port.to_string()),
                }]),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!(
        "eventstore-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let options = CreateContainerOptions {
        name: Some(name),
        ..Default::default()
    };
    let id = docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| ContainerError::Start {
            what: format!(
                "cannot create a container of {}: {}",
                spec.reference,
                error_chain(&e)
            ),
            logs: String::new(),
        })?
        .id;
    if let Some(tls) = &spec.tls
        && let Err(e) = upload_tls(docker, &id, tls).await
    {
        remove(docker, &id).await;
        return Err(e);
    }
    Ok(id)
}

/// Copies the TLS files into the (created, not yet started) container.
async fn upload_tls(docker: &Docker, id: &str, tls: &TlsSettings) -> Result<(), ContainerError> {
    let dir = TLS_DIR.trim_start_matches('/');
    let mut tar = crate::image::TarWriter::default();
    tar.dir(dir, 0o755, 0)?;
    tar.file(&format!("{dir}/server.crt"), &tls.cert, 0o444, 0)?;
    tar.file(&format!("{dir}/server.key"), &tls.key, 0o444, 0)?;
    if let Some(ca) = &tls.client_ca {
        tar.file(&format!("{dir}/client-ca.crt"), ca, 0o444, 0)?;
    }
    let options = UploadToContainerOptions {
        path: "/".to_owned(),
        ..Default::default()
    };
    docker
        .upload_to_container(id, Some(options), bollard::body_full(tar.finish()?.into()))
        .await
        .map_err(|e| ContainerError::Start {
            what: format!("cannot copy the TLS files into the container: {e}"),
            logs: String::new(),
        })
}

/// Waits for the `runs`-th readiness line, then for SERVING.
async fn wait_ready(
    docker: &Docker,
    store: &DockerStore,
    spec: &DockerSpec,
    deadline: Instant,
) -> Result<(), ContainerError> {
    let started = StdInstant::now();
    if let Some(line) = &spec.readiness_line {
        let wait = wait_for_line(docker, &store.id, line, store.runs);
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ContainerError::Timeout {
                    what: format!("container {} printed no {line:?}", short(&store.id)),
                    after: started.elapsed(),
                    logs: String::new(),
                });
            }
        }
    }
    let addr = format!("127.0.0.1:{}", store.host_port);
    readiness::wait_serving(&addr, spec.tls.as_ref(), deadline)
        .await
        .map_err(|e| ContainerError::Timeout {
            what: format!("container {}: {e}", short(&store.id)),
            after: started.elapsed(),
            logs: String::new(),
        })
}

/// Follows the logs until `line` has appeared `count` times.
async fn wait_for_line(
    docker: &Docker,
    id: &str,
    line: &str,
    count: usize,
) -> Result<(), ContainerError> {
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        tail: "all".to_owned(),
        ..Default::default()
    };
    let mut stream = docker.logs(id, Some(options));
    let mut seen = 0;
    let mut pending = String::new();
    while let Some(item) = stream.next().await {
        let chunk = match item {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => message,
            Ok(_) => continue,
            Err(e) => {
                return Err(ContainerError::Start {
                    what: format!("cannot follow the logs of container {}: {e}", short(id)),
                    logs: String::new(),
                });
            }
        };
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            if pending[..end].contains(line) {
                seen += 1;
                if seen >= count {
                    return Ok(());
                }
            }
            pending.drain(..=end);
        }
    }
    let exit = docker
        .inspect_container(id, None)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.exit_code)
        .map(|code| format!(" (exit code {code})"))
        .unwrap_or_default();
    Err(ContainerError::Start {
        what: format!("container {} exited before it was ready{exit}", short(id)),
        logs: String::new(),
    })
}

/// Stops the server (SIGTERM, then SIGKILL after 10 s) and starts it
/// again in the same container: same data, same endpoint.
pub(crate) async fn restart(
    docker: &Docker,
    store: &mut DockerStore,
    spec: &DockerSpec,
    deadline: Instant,
) -> Result<(), ContainerError> {
    stop(docker, &store.id).await?;
    docker
        .start_container(&store.id, None)
        .await
        .map_err(|e| ContainerError::Start {
            what: format!("cannot start container {} again: {e}", short(&store.id)),
            logs: String::new(),
        })?;
    store.runs += 1;
    if let Err(error) = wait_ready(docker, store, spec, deadline).await {
        let logs = logs(docker, &store.id).await.unwrap_or_default();
        return Err(error.with_logs(logs));
    }
    Ok(())
}

/// `docker stop`: SIGTERM, SIGKILL after 10 s.
pub(crate) async fn stop(docker: &Docker, id: &str) -> Result<(), ContainerError> {
    let options = StopContainerOptions {
        t: Some(STOP_TIMEOUT_SECS),
        ..Default::default()
    };
    match docker.stop_container(id, Some(options)).await {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        Err(e) => Err(ContainerError::Docker(format!(
            "cannot stop container {}: {e}",
            short(id)
        ))),
    }
}

/// `docker rm -f -v`, ignoring a container already gone.
pub(crate) async fn remove(docker: &Docker, id: &str) {
    if let Err(e) = try_remove(docker, id).await {
        tracing::warn!(container = short(id), "cannot remove the container: {e}");
    }
}

/// `docker rm -f -v`: `Ok(true)` when this call removed it, `Ok(false)`
/// when it was already gone or another process is removing it (two
/// sweeps at once).
async fn try_remove(docker: &Docker, id: &str) -> Result<bool, bollard::errors::Error> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the container from a fresh runtime and connection, so it works
/// in `Drop` whatever runtime (if any) the caller is on.
pub(crate) fn remove_blocking(docker_host: Option<String>, id: String) {
    let work = move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::warn!("cannot remove container {}: no runtime: {e}", short(&id));
                return;
            }
        };
        runtime.block_on(async {
            match connect(docker_host.as_deref()).await {
                Ok(docker) => remove(&docker, &id).await,
                Err(e) => tracing::warn!("cannot remove container {}: {e}", short(&id)),
            }
        });
    };
    match std::thread::Builder::new()
        .name("eventstore-container-drop".to_owned())
        .spawn(work)
    {
        Ok(thread) => {
            let _ = thread.join();
        }
        Err(e) => tracing::warn!("cannot remove a container: cannot spawn a thread: {e}"),
    }
}

/// Everything the container printed (stdout and stderr, interleaved).
pub(crate) async fn logs(docker: &Docker, id: &str) -> Result<String, ContainerError> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "all".to_owned(),
        ..Default::default()
    };
    let mut stream = docker.logs(id, Some(options));
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(output) => text.push_str(&String::from_utf8_lossy(&output.into_bytes())),
            Err(e) => {
                return Err(ContainerError::Docker(format!(
                    "cannot read the logs of container {}: {e}",
                    short(id)
                )));
            }
        }
    }
    Ok(text)
}

/// A running container of this session with the same reuse key.
async fn find_reusable(
    docker: &Docker,
    docker_host: Option<String>,
    spec: &DockerSpec,
    deadline: Instant,
) -> Result<Option<DockerStore>, ContainerError> {
    let Some(key) = &spec.reuse_key else {
        return Ok(None);
    };
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![
            format!("{LABEL_KEY}={LABEL_VALUE}"),
            format!("{SESSION_LABEL}={}", session_id()),
            format!("{REUSE_LABEL}={key}"),
        ],
    )]);
    let options = ListContainersOptions {
        all: false,
        filters: Some(filters),
        ..Default::default()
    };
    let containers = docker.list_containers(Some(options)).await?;
    for container in containers {
        let Some(id) = container.id else { continue };
        let port = container
            .ports
            .unwrap_or_default()
            .into_iter()
            .find_map(|p| {
                (p.private_port == spec.container_port)
                    .then_some(p.public_port)
                    .flatten()
            });
        let Some(host_port) = port else { continue };
        let addr = format!("127.0.0.1:{host_port}");
        if readiness::wait_serving(&addr, spec.tls.as_ref(), deadline)
            .await
            .is_ok()
        {
            tracing::debug!(container = short(&id), "reusing");
            return Ok(Some(DockerStore {
                docker_host,
                id,
                host_port,
                runs: 1,
                reused: true,
                removed: false,
            }));
        }
    }
    Ok(None)
}

/// Which project containers a sweep removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweep {
    /// Those whose owner process is gone.
    Leftovers,
    /// Those whose owner process is gone, except this session's (what a
    /// start sweeps: a reusable container of this session may outlive the
    /// process that made it, for the next one to reuse).
    DeadSessions,
    /// Those of this session.
    Session,
    /// All of them.
    All,
}

/// Removes the project's containers that `which` selects; returns the ids
/// of those this call removed.
pub(crate) async fn sweep(docker: &Docker, which: Sweep) -> Result<Vec<String>, ContainerError> {
    let mut labels = vec![format!("{LABEL_KEY}={LABEL_VALUE}")];
    if which == Sweep::Session {
        labels.push(format!("{SESSION_LABEL}={}", session_id()));
    }
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_owned(), labels)])),
        ..Default::default()
    };
    let containers = docker.list_containers(Some(options)).await?;
    let mut removed = Vec::new();
    for container in containers {
        let Some(id) = container.id else { continue };
        let labels = container.labels.unwrap_or_default();
        let skip = match which {
            Sweep::Leftovers => owner_alive(&labels),
            Sweep::DeadSessions => {
                labels.get(SESSION_LABEL).map(String::as_str) == Some(session_id())
                    || owner_alive(&labels)
            }
            Sweep::Session | Sweep::All => false,
        };
        if skip {
            continue;
        }
        match try_remove(docker, &id).await {
            Ok(true) => {
                tracing::debug!(container = short(&id), ?which, "swept");
                removed.push(id);
            }
            Ok(false) => {}
            Err(e) => {
                return Err(ContainerError::Docker(format!(
                    "cannot remove container {}: {}",
                    short(&id),
                    error_chain(&e)
                )));
            }
        }
    }
    Ok(removed)
}

/// Whether the process that started a container (per its labels) still
/// runs: it is this process, or a live process of this host with its pid
/// (without /proc: a container of this session). A container of another
/// host is never judged a leftover; one without owner labels always is.
fn owner_alive(labels: &HashMap<String, String>) -> bool {
    let session = labels.get(SESSION_LABEL).map(String::as_str);
    let pid = labels.get(PID_LABEL).map(String::as_str);
    let Some(host) = labels.get(labels::HOST_LABEL) else {
        return false;
    };
    if *host != labels::hostname() {
        return true;
    }
    let Some(pid) = pid else {
        return false;
    };
    if pid == std::process::id().to_string() {
        return true;
    }
    if cfg!(target_os = "linux") {
        std::path::Path::new("/proc").join(pid).exists()
    } else {
        session == Some(session_id())
    }
}

/// The first 12 characters of a container id.
pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
