//! GetServerInfo: version, API version, backend and the capabilities every
//! store here provides; and the default limits accept what the reference
//! accepts.

use super::support::meta;
use crate::{Ctx, Store, append, read};
use eventstore_engine::{API_VERSION, Limits, SERVER_VERSION, backends, capabilities};

pub async fn server_info_names_version_backend_and_capabilities(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let info = store.server_info().await.expect("GetServerInfo");
    // The reference's clients gate on server_version >= 0.17.0 under SemVer
    // 2.0 precedence (build metadata ignored).
    let version = semver::Version::parse(&info.server_version).unwrap_or_else(|e| {
        panic!(
            "server_version {:?} is not SemVer ({e}); the reference's clients refuse it",
            info.server_version
        )
    });
    let level = semver::Version::new(0, 17, 0);
    assert!(
        version.cmp_precedence(&level).is_ge(),
        "server_version {:?} is below {level}: the reference's clients refuse it",
        info.server_version
    );
    if ctx.is_our_build() {
        assert!(
            info.server_version.starts_with(SERVER_VERSION),
            "server_version {:?}, expected {SERVER_VERSION} (plus the storage's name)",
            info.server_version
        );
    }
    assert_eq!(info.api_version, API_VERSION);
    assert_eq!(info.api_version, "eventstore.v1");
    assert!(
        backends::ALL.contains(&info.backend.as_str()),
        "backend {:?} is not one of the reference's {:?}",
        info.backend,
        backends::ALL
    );
    assert!(
        ctx.backends().contains(&info.backend.as_str()),
        "backend {:?}, expected one of {:?}",
        info.backend,
        ctx.backends()
    );
    for capability in [
        "commit_ordered_global_nonce",
        "subscription_errors_surfaced",
        "undecodable_events_surfaced",
        "literal_subscription_prefix",
    ] {
        assert!(
            info.capabilities.iter().any(|c| c == capability),
            "{capability} missing from {:?}",
            info.capabilities
        );
    }
    // Clients ignore names they do not know, so another store may add some.
    if ctx.is_our_build() {
        assert_eq!(info.capabilities.len(), capabilities::ALL.len());
    }
}

/// The reference has no event-count limit: our defaults accept a batch of
/// 1,001 small events, and ReadStream's `max_count` 0 reads it in one page.
pub async fn default_limits_accept_a_1001_event_batch(ctx: Ctx) {
    let store = ctx.start(Limits::default()).await;
    let response = store
        .append(append("t1", "s", 0, 1_001))
        .await
        .expect("a 1,001-event batch is accepted");
    assert_eq!(response.last_aggregate_nonce, 1_001);
    assert_eq!(response.last_global_nonce, 1_001);
    let page = store
        .read_stream(read("t1", "s", 0, 0, true))
        .await
        .expect("read");
    assert_eq!(page.events.len(), 1_001);
    assert!(page.is_end);
    assert_eq!(page.next_from_aggregate_nonce, 1_002);
    assert_eq!(
        page.events.last().map(|e| meta(e).aggregate_nonce),
        Some(1_001)
    );
}
