//! What can go wrong, in words a person can act on.

use std::time::Duration;

/// Why a container (or its stand-in) could not be started, restarted,
/// stopped or swept.
///
/// Every start error of a store that got as far as running carries its
/// logs (stdout and stderr), so the server's own message is in the error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// The `docker` mode and no engine answered.
    #[error(
        "Docker is not available ({cause}).\n\
         To run the event store in a container, you need a running Docker engine:\n  \
         - install Docker (https://docs.docker.com/engine/install/) or another engine with the Docker API;\n  \
         - start the daemon (`sudo systemctl start docker`, or open Docker Desktop);\n  \
         - or point DOCKER_HOST at a running engine (e.g. DOCKER_HOST=unix:///run/user/1000/docker.sock).\n\
         Without Docker, the `auto` mode (the default) runs the real server in this process and the \
         `process` mode runs the eventstore-server binary (EVENTSTORE_CONTAINER_MODE=auto or process)."
    )]
    DockerUnavailable {
        /// What the engine (or the socket) answered.
        cause: String,
    },

    /// The image could not be found, built or pulled.
    #[error("image {image}: {message}")]
    Image {
        /// `name:tag`.
        image: String,
        /// What went wrong.
        message: String,
    },

    /// The store did not become ready: it exited, or an engine call failed.
    #[error("{what}{}", format_logs(logs))]
    Start {
        /// What failed.
        what: String,
        /// The store's output so far (stdout and stderr).
        logs: String,
    },

    /// The store did not answer SERVING in time.
    #[error("{what}: not ready after {after:?}{}", format_logs(logs))]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
        /// The store's output so far (stdout and stderr).
        logs: String,
    },

    /// A call to the Docker engine failed (outside of a start).
    #[error("Docker engine: {0}")]
    Docker(String),

    /// A local file or process operation failed.
    #[error("{0}")]
    Io(String),

    /// The builder's settings cannot work together.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl ContainerError {
    /// The store's logs attached to this error, if any.
    pub fn logs(&self) -> Option<&str> {
        match self {
            Self::Start { logs, .. } | Self::Timeout { logs, .. } => Some(logs),
            _ => None,
        }
    }

    /// The same error with `logs` attached (start errors only).
    pub(crate) fn with_logs(self, new_logs: String) -> Self {
        let new_logs = strip_ansi(&new_logs);
        match self {
            Self::Start { what, .. } => Self::Start {
                what,
                logs: new_logs,
            },
            Self::Timeout { what, after, .. } => Self::Timeout {
                what,
                after,
                logs: new_logs,
            },
            Self::Docker(what) | Self::Io(what) => Self::Start {
                what,
                logs: new_logs,
            },
            other => other,
        }
    }
}

/// `text` without terminal escape sequences (the server colours its log
/// lines).
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte.
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn format_logs(logs: &str) -> String {
    if logs.trim().is_empty() {
        "\n--- logs: (empty) ---".to_owned()
    } else {
        format!("\n--- logs ---\n{}\n--- end of logs ---", logs.trim_end())
    }
}

impl From<bollard::errors::Error> for ContainerError {
    fn from(e: bollard::errors::Error) -> Self {
        Self::Docker(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
            "2026  INFO x"
        );
    }

    #[test]
    fn start_errors_show_their_logs() {
        let error = ContainerError::Start {
            what: "it exited".to_owned(),
            logs: String::new(),
        }
        .with_logs("eventstore-server: invalid limits\n".to_owned());
        let text = error.to_string();
        assert!(text.contains("it exited"), "{text}");
        assert!(text.contains("eventstore-server: invalid limits"), "{text}");
        assert_eq!(error.logs(), Some("eventstore-server: invalid limits\n"));
    }
}
