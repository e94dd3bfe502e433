//! [`Mode`]: where a store runs, as the builder takes it and the handle
//! reports it.

/// Where the store runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Docker when an engine answers, else the real server in process
    /// (with one warning).
    #[default]
    Auto,
    /// Docker, or an error saying how to get an engine.
    Docker,
    /// The `eventstore-server` binary as a child process:
    /// `$EVENTSTORE_SERVER_BIN`, else the embedded static binary.
    Process,
    /// The real server in this process (what `Auto` falls back to).
    InProcess,
}

impl Mode {
    /// `auto`, `docker`, `process` or `in-process` (as
    /// `EVENTSTORE_CONTAINER_MODE` takes them).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Some(Self::Auto),
            "docker" => Some(Self::Docker),
            "process" => Some(Self::Process),
            "in-process" | "inprocess" => Some(Self::InProcess),
            _ => None,
        }
    }
}
