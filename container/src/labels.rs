//! Who owns a container: the labels every container this crate starts
//! carries (project, session, pid, host, reuse key), and the session id
//! they name. `docker.rs` sets them at create and reads them to sweep
//! leftovers; the image build labels its image with [`LABEL_KEY`].

use std::{collections::HashMap, sync::OnceLock};

/// The label on every container this crate starts (`key=value`).
pub const LABEL_KEY: &str = "org.eventstore.testing";
/// The value of [`LABEL_KEY`].
pub const LABEL_VALUE: &str = "eventstore-container";
/// The label holding the session id ([`session_id`]).
pub const SESSION_LABEL: &str = "org.eventstore.testing.session";
/// The label holding the pid of the process that started the container.
pub const PID_LABEL: &str = "org.eventstore.testing.pid";
/// The label holding the host name of the machine that started it.
pub const HOST_LABEL: &str = "org.eventstore.testing.host";
/// The label of a reusable container: a hash of its configuration.
pub const REUSE_LABEL: &str = "org.eventstore.testing.reuse";

/// The id of this test session: `$EVENTSTORE_TESTING_SESSION`, else one
/// per process. Reuse ([`EventStoreContainerBuilder::reuse`](crate::EventStoreContainerBuilder::reuse)) is within a
/// session.
pub fn session_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        std::env::var("EVENTSTORE_TESTING_SESSION")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
    })
}

pub(crate) fn hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_owned())
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    })
    .clone()
}

/// The labels on every container: project, session, pid, host.
pub(crate) fn owner_labels() -> HashMap<String, String> {
    HashMap::from([
        (LABEL_KEY.to_owned(), LABEL_VALUE.to_owned()),
        (SESSION_LABEL.to_owned(), session_id().to_owned()),
        (PID_LABEL.to_owned(), std::process::id().to_string()),
        (HOST_LABEL.to_owned(), hostname()),
    ])
}
