//! The engine's errors. Each variant is one gRPC status code; the message is
//! what a person reads, so it names the field, the value sent and what was
//! expected.

use eventstore_proto::ConcurrencyErrorDetail;

/// An error from the engine. The message is final: adapters pass it through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `UNAUTHENTICATED`: no tenant.
    #[error("{0}")]
    Unauthenticated(String),
    /// `INVALID_ARGUMENT`: a field is missing, malformed or over a limit.
    #[error("{0}")]
    InvalidArgument(String),
    /// `PERMISSION_DENIED`: an event names another tenant than its request.
    #[error("{0}")]
    PermissionDenied(String),
    /// `ALREADY_EXISTS`: an event id is taken, or an idempotency key was used
    /// for a different batch.
    #[error("{0}")]
    AlreadyExists(String),
    /// `ABORTED`: the stream's head is not the expected one.
    #[error("{message}")]
    Concurrency {
        /// Human-readable description of the conflict.
        message: String,
        /// The stream's actual state, sent in `google.rpc.Status.details`.
        detail: ConcurrencyErrorDetail,
    },
    /// `RESOURCE_EXHAUSTED`: the request is larger than the store accepts.
    #[error("{0}")]
    ResourceExhausted(String),
    /// `UNAVAILABLE`: the store is shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// `DATA_LOSS`: the stored event at this global nonce cannot be decoded.
    /// Every event before it was delivered; the status carries the position
    /// in the `esp-undecodable-global-nonce` trailer too.
    #[error(
        "the stored event at global_nonce {global_nonce} cannot be decoded (damaged record); every event before it was delivered"
    )]
    DataLoss {
        /// Global nonce of the undecodable event.
        global_nonce: u64,
    },
    /// `INTERNAL`: the storage failed; nothing was acknowledged.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl Error {
    pub(crate) fn tenant_required() -> Self {
        Self::Unauthenticated("tenant_id is required".into())
    }

    pub(crate) fn shutting_down() -> Self {
        Self::Unavailable("the event store is shutting down".into())
    }

    /// The end of a subscription the store ends for a reason the client can
    /// recover from: `UNAVAILABLE` naming where to resubscribe
    /// (`resume from global_nonce N`).
    pub(crate) fn subscription_ended(reason: &str, resume_from: u64) -> Self {
        Self::Unavailable(format!(
            "{reason}; {} {resume_from}",
            eventstore_proto::RESUME_FROM_GLOBAL_NONCE
        ))
    }
}
