//! The recorder: `eventstore-mock record --from HOST:PORT --tenant T
//! [--prefix P] [--redact JSON_POINTER]... --out FILE` reads one tenant's
//! events from any store that serves ReadAll and writes them as a recorded
//! fixture ([`crate::seed`]), so a mock loaded from it
//! ([`crate::MockEventStore::from_fixture`], `eventstore-mock --seed FILE`)
//! answers every ReadStream and ReadAll with what the source answered, the
//! same nonces included.
//!
//! What a fixture keeps of each event: every metadata field, the
//! aggregate nonce, the global nonce and the recorded time, and the
//! payload byte for byte (as JSON when it is compact JSON, else as
//! `{"$base64": ...}`). Streams appear in the order of their first event;
//! a stream whose events changed `aggregate_type` on the way appears once
//! per run of one type, as the file format wants. What no read shows, and
//! so no fixture holds: the idempotency keys of past appends (a retry
//! against the mock with a key used at the source appends again).
//!
//! `--redact` (see [`redact`]) rewrites JSON payloads: a redacted payload
//! is written as its re-encoded JSON (keys sorted), and its
//! `payload_sha256`, when the source had one, is recomputed. Redacting
//! needs every recorded payload to be JSON (or empty): a payload that is
//! not is an error naming the event, as silently keeping it could leak
//! what was meant to be redacted.
//!
//! Files: `source` (the connection, through `eventstore_client`'s
//! connector, and the paging), `redact` (pointers and placeholders), this
//! file (the command's options, grouping into streams, the file written).

pub mod redact;
mod source;

use crate::wire::{event::RecordedFixtureEvent, payload::compact_json};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use eventstore_client::ConnectArgs;
use eventstore_proto::EventData;
use redact::{PointerError, Redactor};
use serde_json::{Value, value::RawValue};
use sha2::{Digest, Sha256};
use source::Source;
use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
};

/// The options of `eventstore-mock record` (also run by
/// `python -m eventstore.testing.record`, through the same parser).
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// The store to read: HOST:PORT, or an http:// or https:// URL.
    #[arg(long = "from", value_name = "HOST:PORT")]
    pub from: String,

    /// The tenant whose events are recorded.
    #[arg(long, value_name = "TENANT")]
    pub tenant: String,

    /// Record only the streams whose aggregate id starts with this.
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub prefix: String,

    /// Replace the payload field at this RFC 6901 JSON pointer (e.g.
    /// /customer/email; repeatable) with a stable placeholder: equal values
    /// get equal placeholders. Needs JSON payloads.
    #[arg(long = "redact", value_name = "JSON_POINTER")]
    pub redact: Vec<String>,

    /// The fixture file to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Events asked for per ReadAll call (the reference caps it at 1000).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub page_size: u32,

    /// TLS and credentials: the flags every command that connects to a
    /// store shares (`eventstore_client::ConnectArgs`).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Why a recording failed; each names the option or the event concerned.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A `--redact` value is not a JSON pointer.
    #[error(transparent)]
    Pointer(#[from] PointerError),
    /// `--from` or a TLS or credential option is wrong, or nothing
    /// answers there.
    #[error(transparent)]
    Connect(#[from] eventstore_client::ConnectError),
    /// A ReadAll call failed.
    #[error("{endpoint}: ReadAll from global_nonce {from} failed: {code}: {message}")]
    Read {
        /// As given.
        endpoint: String,
        /// The page's cursor.
        from: u64,
        /// The status code's name.
        code: &'static str,
        /// The store's message.
        message: String,
    },
    /// The store's cursor did not move on.
    #[error(
        "{endpoint}: ReadAll from global_nonce {from} returned next_from_global_nonce {next} without is_end: the store breaks the cursor rules, stopping rather than looping"
    )]
    Stalled {
        /// As given.
        endpoint: String,
        /// The page's cursor.
        from: u64,
        /// The cursor it returned.
        next: u64,
    },
    /// `--redact` met a payload that is not JSON.
    #[error(
        "--redact needs JSON payloads, but event {aggregate_id}/{aggregate_nonce} (global_nonce {global_nonce}, event_type {event_type}, content_type {content_type}) is not JSON; leave its streams out with --prefix, or record without --redact"
    )]
    NotJson {
        /// The event's stream.
        aggregate_id: String,
        /// Its aggregate nonce.
        aggregate_nonce: u64,
        /// Its global nonce.
        global_nonce: u64,
        /// Its type.
        event_type: String,
        /// Its content type.
        content_type: String,
    },
    /// `--out` could not be written.
    #[error("--out {}: cannot write: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
}

/// What a recording wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// Events written.
    pub events: usize,
    /// Stream entries written.
    pub streams: usize,
    /// Payload values replaced by `--redact`.
    pub redacted: usize,
    /// ReadAll calls made.
    pub pages: usize,
}

impl std::fmt::Display for RecordSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events in {} streams ({} ReadAll pages, {} values redacted)",
            self.events, self.streams, self.pages, self.redacted
        )
    }
}

/// One stream entry of the fixture: a run of events of one stream and one
/// aggregate type.
struct Entry {
    aggregate_id: String,
    aggregate_type: String,
    /// Each event's fixture text.
    events: Vec<String>,
}

/// Records `args.tenant` of `args.from` into `args.out` (see the module docs).
pub async fn record(args: &RecordArgs) -> Result<RecordSummary, RecordError> {
    let mut redactor = Redactor::new(&args.redact)?;
    // Fail on an unwritable --out before reading anything.
    let out = Output::create(&args.out)?;
    let mut source = Source::connect(args).await?;
    let mut entries: Vec<Entry> = Vec::new();
    // Aggregate id -> index of its current entry.
    let mut current: HashMap<String, usize> = HashMap::new();
    let mut count = 0;
    let pages = source
        .read_all(&args.tenant, args.page_size, |events| {
            for event in events {
                let Some(meta) = &event.meta else { continue };
                if !meta.aggregate_id.starts_with(&args.prefix) {
                    continue;
                }
                let text = fixture_event(&event, &mut redactor)?;
                let index = match current.get(&meta.aggregate_id) {
                    Some(&i) if entries[i].aggregate_type == meta.aggregate_type => i,
                    _ => {
                        entries.push(Entry {
                            aggregate_id: meta.aggregate_id.clone(),
                            aggregate_type: meta.aggregate_type.clone(),
                            events: Vec::new(),
                        });
                        current.insert(meta.aggregate_id.clone(), entries.len() - 1);
                        entries.len() - 1
                    }
                };
                entries[index].events.push(text);
                count += 1;
            }
            Ok(())
        })
        .await?;
    out.write(&fixture_text(&args.tenant, &entries))?;
    Ok(RecordSummary {
        events: count,
        streams: entries.len(),
        redacted: redactor.replaced,
        pages,
    })
}

/// One event as a line of the fixture.
fn fixture_event(event: &EventData, redactor: &mut Redactor) -> Result<String, RecordError> {
    let mut meta = event.meta.clone().unwrap_or_default();
    let mut payload = event.payload.as_slice();
    let redacted;
    if redactor.is_active() && !payload.is_empty() {
        let mut value: Value =
            serde_json::from_slice(payload).map_err(|_| RecordError::NotJson {
                aggregate_id: meta.aggregate_id.clone(),
                aggregate_nonce: meta.aggregate_nonce,
                global_nonce: meta.global_nonce,
                event_type: meta.event_type.clone(),
                content_type: meta.content_type.clone(),
            })?;
        if redactor.redact(&mut value) {
            redacted = value.to_string().into_bytes();
            payload = &redacted;
            if !meta.payload_sha256.is_empty() {
                meta.payload_sha256 = Sha256::digest(payload).to_vec();
            }
        }
    }
    let text = payload_text(payload);
    // Encoding a string that is valid JSON into a raw value cannot fail.
    let raw = RawValue::from_string(text)
        .unwrap_or_else(|_| unreachable!("payload_text returns valid JSON"));
    serde_json::to_string(&RecordedFixtureEvent::new(&meta, raw))
        .map_err(|e| unreachable!("a recorded event always serializes: {e}"))
}

/// The fixture text that loads back as exactly `payload` (see
/// [`crate::wire::payload::ExactPayload`]): `null` for no bytes, the JSON
/// itself when it is compact JSON that means no bytes or base64 to the
/// reader, else `{"$base64": ...}`.
fn payload_text(payload: &[u8]) -> String {
    if payload.is_empty() {
        return "null".to_owned();
    }
    if let Ok(text) = std::str::from_utf8(payload)
        && let Ok(value) = serde_json::from_str::<Value>(text)
        && !value.is_null()
        && value.get(crate::wire::payload::BASE64_KEY).is_none()
        && compact_json(text) == text
    {
        return text.to_owned();
    }
    serde_json::json!({ crate::wire::payload::BASE64_KEY: STANDARD.encode(payload) }).to_string()
}

/// The whole file: one stream per entry, one event per line.
fn fixture_text(tenant: &str, entries: &[Entry]) -> String {
    let mut text = String::from("{\"streams\": [");
    for (i, entry) in entries.iter().enumerate() {
        text.push_str(if i == 0 { "\n  " } else { ",\n  " });
        text.push_str(&format!(
            "{{\"tenant_id\": {}, \"aggregate_id\": {}, \"aggregate_type\": {}, \"events\": [",
            Value::from(tenant),
            Value::from(entry.aggregate_id.as_str()),
            Value::from(entry.aggregate_type.as_str()),
        ));
        for (j, event) in entry.events.iter().enumerate() {
            text.push_str(if j == 0 { "\n    " } else { ",\n    " });
            text.push_str(event);
        }
        text.push_str("\n  ]}");
    }
    text.push_str(if entries.is_empty() { "]}\n" } else { "\n]}\n" });
    text
}

/// `--out`, written whole or not at all: a temporary file beside it,
/// renamed over it at the end (a failed recording leaves no half file).
struct Output {
    path: PathBuf,
    temporary: PathBuf,
    file: std::fs::File,
}

impl Output {
    fn create(path: &Path) -> Result<Self, RecordError> {
        let error = |e: std::io::Error| RecordError::Write {
            path: path.to_owned(),
            message: e.to_string(),
        };
        if path.is_dir() {
            return Err(RecordError::Write {
                path: path.to_owned(),
                message: "is a directory".into(),
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temporary = path.with_file_name(format!(".{name}.recording"));
        let file = std::fs::File::create(&temporary).map_err(error)?;
        Ok(Self {
            path: path.to_owned(),
            temporary,
            file,
        })
    }

    fn write(mut self, text: &str) -> Result<(), RecordError> {
        let result = self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_all())
            .and_then(|()| std::fs::rename(&self.temporary, &self.path));
        result.map_err(|e| RecordError::Write {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // After a rename there is nothing left to remove.
        let _ = std::fs::remove_file(&self.temporary);
    }
}

/// `eventstore-mock record` as a command line: `argv[0]` names the
/// program, the rest are [`RecordArgs`]. Prints the summary to stdout or
/// the error to stderr and returns the exit status (2 for a usage error),
/// so the binary and `python -m eventstore.testing.record` behave alike.
pub async fn main_from(argv: impl IntoIterator<Item = String>) -> i32 {
    use clap::Parser;
    /// Records a tenant of a store into a fixture file for the mock.
    #[derive(Parser)]
    #[command(name = "eventstore-mock record")]
    struct Cli {
        #[command(flatten)]
        args: RecordArgs,
    }
    match Cli::try_parse_from(argv) {
        Ok(cli) => run(&cli.args).await,
        Err(e) => {
            let _ = e.print();
            e.exit_code()
        }
    }
}

/// Runs one recording with the command's output; returns the exit status.
pub async fn run(args: &RecordArgs) -> i32 {
    match record(args).await {
        Ok(summary) => {
            println!(
                "recorded {summary} of tenant {:?} from {} into {}",
                args.tenant,
                args.from,
                args.out.display()
            );
            0
        }
        Err(e) => {
            eprintln!("eventstore-mock record: {e}");
            1
        }
    }
}
