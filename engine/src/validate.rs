//! Stateless checks and normalization, run before any lock is taken.
//!
//! Append checks 1 to 3 of `spec/semantics.md` fail here at once. A broken
//! limit (check 8) is found here too but reported only after the stateful
//! checks 4 to 7 pass, so that the first failing check in the spec's order
//! decides the error. The exceptions: the request size, which the transport
//! must enforce before it can even decode the request, and the length of
//! the stream's identity (`tenant_id`, `aggregate_id`), checked before the
//! stateful checks because no stream with a longer id can exist and their
//! answers (the `ABORTED` detail) would carry the id back whole.
//!
//! A value a client sent is never echoed whole in an error: [`quote`] shows
//! a long one as its first characters and its length, so a 3 MB id gives a
//! message of a few hundred bytes that still names the field and the limit.

use crate::{Error, Limits};
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadAllRequest, ReadStreamRequest, SubscribeRequest,
};
use prost::Message;
use sha2::{Digest, Sha256};

/// Content type the store records when an event carries none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// An append that passed the stateless checks, with its events normalized.
#[derive(Debug, Clone)]
pub struct PreparedAppend {
    /// The stream's tenant.
    pub tenant_id: String,
    /// The stream's aggregate id.
    pub aggregate_id: String,
    /// `expected_aggregate_nonce` as sent: 0 means the stream must not exist.
    pub expected_aggregate_nonce: u64,
    /// The idempotency key, when one was sent.
    pub idempotency_key: Option<String>,
    /// The events with request fields filled in and store fields cleared.
    pub events: Vec<EventData>,
    /// SHA-256 over the normalized events: what "the same batch" means for
    /// an idempotent retry. Computed only for an append with an idempotency
    /// key (all zeros otherwise): nothing else compares it, and hashing
    /// every event's encoding is a visible share of an append's CPU.
    pub fingerprint: [u8; 32],
    /// A limit the request breaks, reported after the stateful checks.
    pub limit_error: Option<Error>,
}

/// Checks and normalizes an append request (checks 1, 2, 3 and 8).
pub fn prepare_append(request: AppendRequest, limits: &Limits) -> Result<PreparedAppend, Error> {
    check_request_size(request.encoded_len(), limits)?;
    let AppendRequest {
        tenant_id,
        aggregate_id,
        aggregate_type,
        expected_aggregate_nonce,
        idempotency_key,
        mut events,
    } = request;
    if tenant_id.is_empty() {
        return Err(Error::tenant_required());
    }
    if aggregate_id.is_empty() {
        return Err(invalid("aggregate_id is required"));
    }
    if aggregate_type.is_empty() {
        return Err(invalid("aggregate_type is required"));
    }
    if events.is_empty() {
        return Err(invalid(
            "events must not be empty: an append needs at least one event",
        ));
    }
    check_len("tenant_id", &tenant_id, limits)?;
    check_len("aggregate_id", &aggregate_id, limits)?;

    let keyed = !idempotency_key.is_empty();
    let mut hasher = keyed.then(Sha256::new);
    let mut encoded = Vec::new();
    for (i, event) in events.iter_mut().enumerate() {
        let Some(meta) = event.meta.as_mut() else {
            return Err(invalid(format!("events[{i}].meta is required")));
        };
        if meta.event_id.is_empty() {
            return Err(invalid(format!("events[{i}].meta.event_id is required")));
        }
        if meta.aggregate_nonce == 0 {
            return Err(invalid(format!(
                "events[{i}].meta.aggregate_nonce must be at least 1 (nonces are 1-based), got 0"
            )));
        }
        if meta.event_type.is_empty() {
            return Err(invalid(format!("events[{i}].meta.event_type is required")));
        }
        fill_or_match(&mut meta.aggregate_id, &aggregate_id, i, "aggregate_id")
            .map_err(Error::InvalidArgument)?;
        fill_or_match(
            &mut meta.aggregate_type,
            &aggregate_type,
            i,
            "aggregate_type",
        )
        .map_err(Error::InvalidArgument)?;
        fill_or_match(&mut meta.tenant_id, &tenant_id, i, "tenant_id")
            .map_err(Error::PermissionDenied)?;
        if meta.content_type.is_empty() {
            meta.content_type = DEFAULT_CONTENT_TYPE.to_owned();
        }
        meta.global_nonce = 0;
        meta.recorded_time_unix_ms = 0;

        if let Some(hasher) = hasher.as_mut() {
            encoded.clear();
            // A Vec grows as needed: encoding into it cannot fail.
            event.encode_raw(&mut encoded);
            hasher.update((encoded.len() as u64).to_le_bytes());
            hasher.update(&encoded);
        }
    }

    let limit_error = append_limit_error(
        &tenant_id,
        &aggregate_id,
        &aggregate_type,
        &idempotency_key,
        &events,
        limits,
    );
    Ok(PreparedAppend {
        tenant_id,
        aggregate_id,
        expected_aggregate_nonce,
        idempotency_key: keyed.then_some(idempotency_key),
        events,
        fingerprint: hasher.map_or([0; 32], |h| h.finalize().into()),
        limit_error,
    })
}

/// Checks a read request; the page size is applied by the store.
pub fn check_read(request: &ReadStreamRequest, limits: &Limits) -> Result<(), Error> {
    check_request_size(request.encoded_len(), limits)?;
    if request.tenant_id.is_empty() {
        return Err(Error::tenant_required());
    }
    if request.aggregate_id.is_empty() {
        return Err(invalid("aggregate_id is required"));
    }
    check_len("tenant_id", &request.tenant_id, limits)?;
    check_len("aggregate_id", &request.aggregate_id, limits)
}

/// Checks a ReadAll request; the page size is applied by the store.
pub fn check_read_all(request: &ReadAllRequest, limits: &Limits) -> Result<(), Error> {
    check_request_size(request.encoded_len(), limits)?;
    if request.tenant_id.is_empty() {
        return Err(Error::tenant_required());
    }
    check_len("tenant_id", &request.tenant_id, limits)
}

/// Checks a subscribe request.
pub fn check_subscribe(request: &SubscribeRequest, limits: &Limits) -> Result<(), Error> {
    check_request_size(request.encoded_len(), limits)?;
    if request.tenant_id.is_empty() {
        return Err(Error::tenant_required());
    }
    check_len("tenant_id", &request.tenant_id, limits)?;
    check_len("aggregate_id_prefix", &request.aggregate_id_prefix, limits)
}

fn check_request_size(len: usize, limits: &Limits) -> Result<(), Error> {
    if len > limits.max_request_bytes {
        return Err(Error::ResourceExhausted(format!(
            "request is {len} bytes, more than the limit max_request_bytes = {}",
            limits.max_request_bytes
        )));
    }
    Ok(())
}

/// Values up to this many bytes are quoted whole in messages.
const QUOTE_WHOLE_BYTES: usize = 64;
/// Characters shown of a longer value.
const QUOTE_PREFIX_CHARS: usize = 32;

/// A value sent by a client, as an error message shows it: whole when short,
/// else its first characters and its length, so a message stays a few
/// hundred bytes (a gRPC client may refuse a large status message as
/// oversized metadata and hide the real error).
pub fn quote(value: &str) -> String {
    if value.len() <= QUOTE_WHOLE_BYTES {
        format!("\"{value}\"")
    } else {
        let shown: String = value.chars().take(QUOTE_PREFIX_CHARS).collect();
        format!("\"{shown}...\" ({} bytes)", value.len())
    }
}

/// A value sent by a client, shown unquoted in a summary line: whole when
/// short, else its first characters, `...` and its length (the rule of
/// [`quote`], for places that print values bare).
pub fn clip(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() <= QUOTE_WHOLE_BYTES {
        std::borrow::Cow::Borrowed(value)
    } else {
        let shown: String = value.chars().take(QUOTE_PREFIX_CHARS).collect();
        std::borrow::Cow::Owned(format!("{shown}... ({} bytes)", value.len()))
    }
}

fn check_len(field: &str, value: &str, limits: &Limits) -> Result<(), Error> {
    check_bytes(
        field,
        value,
        value.len(),
        limits.max_id_length,
        "max_id_length",
    )
}

/// `field` holds `len` bytes (`value` as text, shortened) against `limit`.
fn check_bytes(
    field: &str,
    value: &str,
    len: usize,
    limit: usize,
    limit_name: &str,
) -> Result<(), Error> {
    check_bytes_of(|| field.to_owned(), value, len, limit, limit_name)
}

/// [`check_bytes`] for a field whose path is built only for an error: the
/// per-event checks run for every event of every append, and formatting
/// each field's path up front cost more than the checks themselves.
fn check_bytes_of(
    field: impl FnOnce() -> String,
    value: &str,
    len: usize,
    limit: usize,
    limit_name: &str,
) -> Result<(), Error> {
    if len > limit {
        let field = field();
        let shown: String = value.chars().take(QUOTE_PREFIX_CHARS).collect();
        return Err(invalid(format!(
            "{field} is {len} bytes long (\"{shown}...\"), more than the limit {limit_name} = {limit}"
        )));
    }
    Ok(())
}

/// Checks one event's headers, `content_type`, `content_schema` and
/// `payload_sha256` against their limits (event `i`).
fn check_event_fields(i: usize, meta: &EventMetadata, limits: &Limits) -> Result<(), Error> {
    if meta.headers.len() > limits.max_headers_per_event {
        return Err(invalid(format!(
            "events[{i}].meta.headers has {} entries, more than the limit max_headers_per_event = {}",
            meta.headers.len(),
            limits.max_headers_per_event
        )));
    }
    for (key, value) in &meta.headers {
        check_bytes_of(
            || format!("events[{i}].meta.headers key"),
            key,
            key.len(),
            limits.max_header_key_bytes,
            "max_header_key_bytes",
        )?;
        check_bytes_of(
            || format!("events[{i}].meta.headers[{}]", quote(key)),
            value,
            value.len(),
            limits.max_header_value_bytes,
            "max_header_value_bytes",
        )?;
    }
    check_bytes_of(
        || format!("events[{i}].meta.content_type"),
        &meta.content_type,
        meta.content_type.len(),
        limits.max_content_type_bytes,
        "max_content_type_bytes",
    )?;
    check_bytes_of(
        || format!("events[{i}].meta.content_schema"),
        &meta.content_schema,
        meta.content_schema.len(),
        limits.max_content_schema_bytes,
        "max_content_schema_bytes",
    )?;
    if meta.payload_sha256.len() > limits.max_id_length {
        return Err(invalid(format!(
            "events[{i}].meta.payload_sha256 is {} bytes long, more than the limit max_id_length = {}",
            meta.payload_sha256.len(),
            limits.max_id_length
        )));
    }
    Ok(())
}

fn append_limit_error(
    tenant_id: &str,
    aggregate_id: &str,
    aggregate_type: &str,
    idempotency_key: &str,
    events: &[EventData],
    limits: &Limits,
) -> Option<Error> {
    if events.len() > limits.max_events_per_batch {
        return Some(invalid(format!(
            "events has {} events, more than the limit max_events_per_batch = {}",
            events.len(),
            limits.max_events_per_batch
        )));
    }
    let request_ids = [
        ("tenant_id", tenant_id),
        ("aggregate_id", aggregate_id),
        ("aggregate_type", aggregate_type),
        ("idempotency_key", idempotency_key),
    ];
    for (field, value) in request_ids {
        if let Err(e) = check_len(field, value, limits) {
            return Some(e);
        }
    }
    for (i, event) in events.iter().enumerate() {
        let Some(meta) = &event.meta else { continue };
        let ids = [
            ("event_id", &meta.event_id),
            ("event_type", &meta.event_type),
            ("correlation_id", &meta.correlation_id),
            ("causation_id", &meta.causation_id),
            ("actor_id", &meta.actor_id),
        ];
        // The field's path is only spelled out for an error: this runs for
        // every event of every append.
        if let Some((field, value)) = ids
            .into_iter()
            .find(|(_, v)| v.len() > limits.max_id_length)
        {
            return check_len(&format!("events[{i}].meta.{field}"), value, limits).err();
        }
        if let Err(e) = check_event_fields(i, meta, limits) {
            return Some(e);
        }
    }
    None
}

/// Fills an empty event field from the request, or checks that it matches.
fn fill_or_match(field: &mut String, request: &str, i: usize, name: &str) -> Result<(), String> {
    if field.is_empty() {
        request.clone_into(field);
        Ok(())
    } else if field == request {
        Ok(())
    } else {
        Err(format!(
            "events[{i}].meta.{name} is {} but the request's {name} is {}",
            quote(field),
            quote(request)
        ))
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidArgument(message.into())
}
