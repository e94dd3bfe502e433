//! Without Docker, `Mode::InProcess` (and `Mode::Auto`'s fallback): the
//! real server's `eventstore_server::run` in this process, on a runtime and
//! thread of its own, durable on a temporary directory, on 127.0.0.1 with a
//! free port.

use crate::{error::ContainerError, readiness, tls::TlsSettings, workdir::Workdir};
use eventstore_engine::StorageError;
use eventstore_server::{Config, ServeError, config::EnvError};
use std::{
    net::SocketAddr,
    time::{Duration, Instant as StdInstant},
};
use tokio::{sync::oneshot, time::Instant};

/// The real server in this process, on a runtime (and thread) of its own,
/// so it does not depend on the caller's runtime.
#[derive(Debug)]
pub(crate) struct InProcessStore {
    config: Config,
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
    /// `env` (read by the server's own command line, see [`server_config`]),
    /// durable on a temporary directory unless `EVENTSTORE_DATA_DIR` names
    /// one.
    pub(crate) async fn start(
        env: &[(String, String)],
        tls: Option<&TlsSettings>,
        deadline: Instant,
    ) -> Result<Self, ContainerError> {
        let workdir = Workdir::new(tls)?;
        let mut env = env.to_vec();
        // As the child process gets them: the TLS files come last and win.
        env.extend(workdir.tls_env(tls));
        if !env.iter().any(|(key, _)| key == "EVENTSTORE_DATA_DIR") {
            let data_dir = workdir.data_dir().display().to_string();
            env.push(("EVENTSTORE_DATA_DIR".to_owned(), data_dir));
        }
        let config = server_config(&env)?;
        let mut store = Self {
            config,
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
        // The same port across restarts (0 the first time).
        let mut config = self.config.clone();
        config.listen = self.addr;
        loop {
            match spawn_server(config.clone()).await {
                Ok((addr, running)) => {
                    self.addr = addr;
                    self.running = Some(running);
                    break;
                }
                // The previous server's storage closes just after it stops.
                Err(StartFailure::Serve(ServeError::Storage(StorageError::Locked { .. })))
                    if Instant::now() + STORAGE_RELEASE_PAUSE < deadline =>
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

/// The server's [`Config`] for the `EVENTSTORE_*` variables of `env`, as
/// the server binary reads them from its environment (by
/// [`Config::from_env_map`]: its own flags and their rules, not the test
/// process's environment), listening on 127.0.0.1 with a free port:
/// `EVENTSTORE_LISTEN` is ignored, and so are variables that are not
/// `EVENTSTORE_*`. An `EVENTSTORE_*` variable the server does not read is
/// an error naming it and its value.
fn server_config(env: &[(String, String)]) -> Result<Config, ContainerError> {
    let settings = env.iter().filter(|(key, _)| {
        let setting = key.starts_with(eventstore_server::config::ENV_PREFIX);
        if !setting {
            tracing::debug!(
                key = key.as_str(),
                "not an EVENTSTORE_* setting: ignored by the in-process server"
            );
        }
        setting && key != "EVENTSTORE_LISTEN"
    });
    let mut config = Config::from_env_map(settings.map(|(key, value)| (key, value))).map_err(
        |error| match error {
            EnvError::NotASetting { key, value } => ContainerError::Config(format!(
                "{key}={value:?} is not a setting of the in-process server"
            )),
            other => ContainerError::Config(other.to_string()),
        },
    )?;
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    Ok(config)
}

/// Why the server thread did not come up.
#[derive(Debug, thiserror::Error)]
enum StartFailure {
    /// `eventstore_server::run` refused (a lock, bad settings, a busy port).
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The thread or its runtime could not be created, or it died.
    #[error("{0}")]
    Thread(String),
}

/// Starts the server on a thread and runtime of its own; returns its
/// address once it listens.
async fn spawn_server(config: Config) -> Result<(SocketAddr, Running), StartFailure> {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel::<Result<SocketAddr, StartFailure>>();
    let thread = std::thread::Builder::new()
        .name("eventstore-in-process".to_owned())
        .spawn(move || {
            serve(config, stop_rx, kill_rx, ready_tx);
            let _ = done_tx.send(());
        })
        .map_err(|e| StartFailure::Thread(format!("cannot spawn the server thread: {e}")))?;
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
            Err(StartFailure::Thread("the server thread ended".to_owned()))
        }
    }
}

/// The server thread: its own runtime, until told to stop (gracefully) or
/// killed (its runtime dropped with everything on it).
fn serve(
    config: Config,
    stop: oneshot::Receiver<()>,
    kill: oneshot::Receiver<()>,
    ready: oneshot::Sender<Result<SocketAddr, StartFailure>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("eventstore-in-process")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(StartFailure::Thread(format!(
                "cannot build a runtime: {e}"
            ))));
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
                let _ = ready.send(Err(e.into()));
            }
        }
    });
    runtime.shutdown_background();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn configured(settings: &[(&str, &str)]) -> Result<Config, ContainerError> {
        let env: Vec<(String, String)> = settings
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        server_config(&env)
    }

    #[test]
    fn settings_reach_the_config_without_the_command_line() {
        let config = configured(&[
            ("EVENTSTORE_MAX_PAGE_SIZE", "7"),
            ("EVENTSTORE_DEFAULT_PAGE_SIZE", "5"),
            ("EVENTSTORE_SHUTDOWN_GRACE_SECS", "1"),
            ("EVENTSTORE_MAX_HEADERS_PER_EVENT", "9"),
            ("EVENTSTORE_MAX_CONCURRENT_STREAMS", "4"),
            ("EVENTSTORE_USERNAME", "admin"),
            ("EVENTSTORE_PASSWORD", "changeit"),
            ("EVENTSTORE_LISTEN", "0.0.0.0:9"),
            ("RUST_LOG", "debug"),
        ])
        .unwrap();
        let limits = config.limits().unwrap();
        assert_eq!((limits.max_page_size, limits.default_page_size), (7, 5));
        assert_eq!(config.shutdown_grace_secs, 1);
        assert_eq!(limits.max_headers_per_event, 9);
        assert_eq!(config.admission.transport.max_concurrent_streams, 4);
        assert_eq!(config.username.as_deref(), Some("admin"));
        assert_eq!(config.password.as_deref(), Some("changeit"));
        // The store picks its own port.
        assert_eq!(config.listen.port(), 0);
    }

    /// Every `EVENTSTORE_*` variable the server binary reads is a setting
    /// of the in-process server too (both read them through the server's
    /// command line), so `EventStoreContainer` never refuses in process
    /// what the image accepts.
    #[test]
    fn every_environment_variable_of_the_server_is_a_setting() {
        use clap::CommandFactory;
        let command = Config::command();
        let names: Vec<String> = command
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .collect();
        assert!(names.len() >= 20, "the server reads {names:?}");
        for name in names {
            if let Err(error) = configured(&[(&name, "1")]) {
                assert!(
                    !error.to_string().contains("is not a setting"),
                    "{name}: {error}"
                );
            }
        }
    }

    #[test]
    fn a_bad_number_names_the_setting_and_the_value() {
        let error = configured(&[("EVENTSTORE_MAX_PAGE_SIZE", "many")]).unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, ContainerError::Config(_)), "{error:?}");
        assert!(
            text.contains("EVENTSTORE_MAX_PAGE_SIZE") && text.contains("\"many\""),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_eventstore_setting_is_refused_by_name() {
        let error = configured(&[("EVENTSTORE_MAX_PAGES", "3")]).unwrap_err();
        assert!(
            error.to_string().contains("EVENTSTORE_MAX_PAGES"),
            "{error}"
        );
    }

    #[test]
    fn a_username_without_a_password_is_refused_not_ignored() {
        let error = configured(&[("EVENTSTORE_USERNAME", "admin")]).unwrap_err();
        assert!(error.to_string().contains("EVENTSTORE_PASSWORD"), "{error}");
    }
}
