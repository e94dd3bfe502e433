//! Why fixtures could not be read, parsed or loaded, and the rewriting that
//! turns serde's messages ("missing field `x` at line 3 column 5") into
//! ones naming the line and the field path (`line 3: streams[0].x: missing
//! field`), where a reader looks first.

/// Why fixtures could not be read, parsed or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("{source_name}: cannot read: {message}")]
    Read {
        /// The file.
        source_name: String,
        /// The I/O error.
        message: String,
    },
    /// The text is not valid JSON or not a valid fixture file.
    #[error("{}", invalid_message(.source_name, *.line, .path, .message))]
    Invalid {
        /// The file (or whatever name the caller gave the text).
        source_name: String,
        /// 1-based line where the problem was found.
        line: usize,
        /// 1-based column where the problem was found.
        column: usize,
        /// Field path, e.g. `streams[0].events[1].event_type` (empty when
        /// the text is not JSON at all).
        path: String,
        /// What is wrong, e.g. `missing field`.
        message: String,
    },
    /// The events' store fields do not fit together: some events carry
    /// recorded positions (`global_nonce`) and others do not, or an
    /// `aggregate_nonce` or `recorded_time_unix_ms` is given without one.
    #[error("{source_name}: {path}: {message}")]
    Positions {
        /// The file.
        source_name: String,
        /// The event's field, e.g. `streams[2].events[0].global_nonce`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The store refused a recorded event (a global nonce out of order, an
    /// aggregate nonce that does not follow the stream's head, a duplicate
    /// `event_id`).
    #[error(
        "streams[{index}].events[{event}] ({tenant_id}/{aggregate_id}, global_nonce {global_nonce}): {}: {message}",
        crate::wire::code_name(*.code)
    )]
    Import {
        /// Index of the stream in the list given to [`load`](super::load).
        index: usize,
        /// Index of the event in that stream.
        event: usize,
        /// Its tenant.
        tenant_id: String,
        /// Its aggregate id.
        aggregate_id: String,
        /// Its recorded global nonce.
        global_nonce: u64,
        /// The store's status code.
        code: tonic::Code,
        /// The store's message.
        message: String,
    },
    /// The store refused a stream (e.g. a duplicate `event_id`).
    #[error(
        "streams[{index}] ({tenant_id}/{aggregate_id}): {}: {message}",
        crate::wire::code_name(*.code)
    )]
    Load {
        /// Index of the stream in the list given to [`load`](super::load).
        index: usize,
        /// Its tenant.
        tenant_id: String,
        /// Its aggregate id.
        aggregate_id: String,
        /// The store's status code.
        code: tonic::Code,
        /// The store's message.
        message: String,
    },
}

fn invalid_message(source: &str, line: usize, path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("{source} line {line}: {message}")
    } else {
        format!("{source} line {line}: {path}: {message}")
    }
}

pub(super) fn invalid(mut path: String, inner: serde_json::Error, source_name: &str) -> SeedError {
    // `.` is the root; `?` a key the parser never got to read.
    while let Some(parent) = path.strip_suffix(".?") {
        path.truncate(parent.len());
    }
    if path == "." || path == "?" {
        path.clear();
    }
    let (line, column) = (inner.line(), inner.column());
    let full = inner.to_string();
    let mut message = full
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&full)
        .to_owned();
    // serde names the missing or unknown field in the message, not the path:
    // move it into the path, where the reader looks for it.
    let field_error = [
        ("missing field `", "missing field"),
        ("unknown field `", "unknown field"),
    ]
    .into_iter()
    .find_map(|(prefix, what)| {
        let rest = message.strip_prefix(prefix)?;
        let (field, tail) = rest.split_once('`')?;
        Some((
            field.to_owned(),
            what,
            tail.trim_start_matches(", ").to_owned(),
        ))
    });
    if let Some((field, what, tail)) = field_error {
        let parent = path
            .strip_suffix(&format!(".{field}"))
            .or_else(|| (path == field).then_some(""))
            .unwrap_or(&path)
            .to_owned();
        path = if parent.is_empty() {
            field
        } else {
            format!("{parent}.{field}")
        };
        message = if tail.is_empty() {
            what.to_owned()
        } else {
            format!("{what} ({tail})")
        };
    }
    if inner.is_syntax() || inner.is_eof() {
        message = format!("not valid JSON (column {column}): {message}");
    }
    SeedError::Invalid {
        source_name: source_name.to_owned(),
        line,
        column,
        path,
        message,
    }
}
