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
//! Every event must carry the tenant asked for: an event of another
//! tenant in the store's answer fails the recording, naming the event and
//! both tenants (a fixture holds one tenant; writing another's events
//! under it would hand them to whoever loads it).
//!
//! Each ReadAll page must arrive within `--request-timeout` (default 60 s),
//! body included; a store that does not answer in time fails the
//! recording, naming it, the page's cursor and the deadline.
//!
//! Memory: one page at a time (at most 64 MiB decoded, the largest page
//! the recorder accepts), plus about 16 bytes per event recorded and each
//! stream's id and type. Each event's fixture text is spooled, as it
//! arrives, to an anonymous temporary file in `--out`'s directory; the
//! file is written at the end by reading the events back, stream by
//! stream.
//!
//! `--out` is written whole or not at all: into a temporary of a random
//! name beside it, created exclusively (never through a file or link
//! already there), renamed over `--out` at the end. A failed recording
//! leaves no file.
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
    fs::File,
    io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::Duration,
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

    /// TLS, credentials and timeouts (`--request-timeout`: the longest
    /// wait for one page): the flags every command that connects to a
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
    /// A ReadAll call got no (complete) answer within the request timeout.
    #[error(
        "{endpoint}: ReadAll from global_nonce {from}: no answer within {} s (--request-timeout): the store took the call but did not finish the page; check that an event store is serving there and is not overloaded, or allow it longer with --request-timeout",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// As given.
        endpoint: String,
        /// The page's cursor.
        from: u64,
        /// The deadline.
        timeout: Duration,
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
    /// The store returned an event of another tenant than `--tenant`.
    #[error(
        "{endpoint}: ReadAll of tenant {requested:?} returned event {aggregate_id}/{aggregate_nonce} (global_nonce {global_nonce}) of tenant {carried:?}: a recording holds one tenant's events, so nothing was written; the store mixes tenants in its answers: report it to its maintainers, or record from a store that keeps tenants apart"
    )]
    OtherTenant {
        /// As given.
        endpoint: String,
        /// `--tenant`.
        requested: String,
        /// The tenant the event carries.
        carried: String,
        /// The event's stream (clipped to 64 characters).
        aggregate_id: String,
        /// Its aggregate nonce.
        aggregate_nonce: u64,
        /// Its global nonce.
        global_nonce: u64,
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

/// `count` and `noun`, the noun plural unless `count` is 1 (`1 event`,
/// `2 events`).
fn counted(count: usize, noun: &str, plural: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {plural}")
    }
}

impl std::fmt::Display for RecordSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} in {} ({}, {} redacted)",
            counted(self.events, "event", "events"),
            counted(self.streams, "stream", "streams"),
            counted(self.pages, "ReadAll page", "ReadAll pages"),
            counted(self.redacted, "value", "values"),
        )
    }
}

/// One stream entry of the fixture: a run of events of one stream and one
/// aggregate type.
struct Entry {
    aggregate_id: String,
    aggregate_type: String,
    /// Where each event's fixture text is in the [`Spool`].
    events: Vec<Spooled>,
}

/// The longest aggregate id a message shows whole.
const SHOWN_ID_CHARS: usize = 64;

/// `id` for a message: its first [`SHOWN_ID_CHARS`] characters, then `...`
/// when it is longer.
fn clipped(id: &str) -> String {
    match id.char_indices().nth(SHOWN_ID_CHARS) {
        Some((end, _)) => format!("{}...", &id[..end]),
        None => id.to_owned(),
    }
}

/// Records `args.tenant` of `args.from` into `args.out` (see the module docs).
pub async fn record(args: &RecordArgs) -> Result<RecordSummary, RecordError> {
    let mut redactor = Redactor::new(&args.redact)?;
    // Fail on an unwritable --out before reading anything.
    let out = Output::create(&args.out)?;
    let mut spool = Spool::create(&out)?;
    let mut source = Source::connect(args).await?;
    let endpoint = source.endpoint().to_owned();
    let mut entries: Vec<Entry> = Vec::new();
    // Aggregate id -> index of its current entry.
    let mut current: HashMap<String, usize> = HashMap::new();
    let mut count = 0;
    let pages = source
        .read_all(&args.tenant, args.page_size, |events| {
            for event in events {
                let Some(meta) = &event.meta else { continue };
                if meta.tenant_id != args.tenant {
                    return Err(RecordError::OtherTenant {
                        endpoint: endpoint.clone(),
                        requested: args.tenant.clone(),
                        carried: meta.tenant_id.clone(),
                        aggregate_id: clipped(&meta.aggregate_id),
                        aggregate_nonce: meta.aggregate_nonce,
                        global_nonce: meta.global_nonce,
                    });
                }
                if !meta.aggregate_id.starts_with(&args.prefix) {
                    continue;
                }
                let spooled = spool.push(&fixture_event(&event, &mut redactor)?)?;
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
                entries[index].events.push(spooled);
                count += 1;
            }
            Ok(())
        })
        .await?;
    out.write(&args.tenant, &entries, spool)?;
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

/// The whole file: one stream per entry, one event per line, each
/// event's text read back from `spool`.
fn write_fixture(
    out: &mut impl Write,
    tenant: &str,
    entries: &[Entry],
    spool: &mut SpoolReader,
) -> std::io::Result<()> {
    out.write_all(b"{\"streams\": [")?;
    for (i, entry) in entries.iter().enumerate() {
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        write!(
            out,
            "{{\"tenant_id\": {}, \"aggregate_id\": {}, \"aggregate_type\": {}, \"events\": [",
            Value::from(tenant),
            Value::from(entry.aggregate_id.as_str()),
            Value::from(entry.aggregate_type.as_str()),
        )?;
        for (j, &event) in entry.events.iter().enumerate() {
            out.write_all(if j == 0 { b"\n    " } else { b",\n    " })?;
            out.write_all(spool.read(event)?)?;
        }
        out.write_all(b"\n  ]}")?;
    }
    out.write_all(if entries.is_empty() {
        b"]}\n"
    } else {
        b"\n]}\n"
    })
}

/// Where an event's fixture text is in the spool.
#[derive(Debug, Clone, Copy)]
struct Spooled {
    offset: u64,
    len: u64,
}

/// The events' fixture texts in arrival order, in an anonymous temporary
/// file (gone when closed, whatever happens) beside `--out`, so memory
/// holds one page, not the tenant.
struct Spool {
    /// `--out`, for messages.
    path: PathBuf,
    file: BufWriter<File>,
    len: u64,
}

impl Spool {
    fn create(out: &Output) -> Result<Self, RecordError> {
        let file = tempfile::tempfile_in(out.dir()).map_err(|e| spool_error(&out.path, &e))?;
        Ok(Self {
            path: out.path.clone(),
            file: BufWriter::new(file),
            len: 0,
        })
    }

    fn push(&mut self, text: &str) -> Result<Spooled, RecordError> {
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| spool_error(&self.path, &e))?;
        let spooled = Spooled {
            offset: self.len,
            len: text.len() as u64,
        };
        self.len += spooled.len;
        Ok(spooled)
    }

    fn into_reader(self) -> std::io::Result<SpoolReader> {
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(SpoolReader {
            file: BufReader::new(file),
            position: 0,
            buffer: Vec::new(),
        })
    }
}

/// The spool read back, mostly in order (a stream's events are often
/// neighbours): a seek only where the next event is elsewhere.
struct SpoolReader {
    file: BufReader<File>,
    position: u64,
    buffer: Vec<u8>,
}

impl SpoolReader {
    fn read(&mut self, event: Spooled) -> std::io::Result<&[u8]> {
        if event.offset != self.position {
            self.file.seek(SeekFrom::Start(event.offset))?;
        }
        let len = usize::try_from(event.len).map_err(std::io::Error::other)?;
        self.buffer.resize(len, 0);
        self.file.read_exact(&mut self.buffer)?;
        self.position = event.offset + event.len;
        Ok(&self.buffer)
    }
}

/// An I/O error writing `--out`.
fn write_error(path: &Path, error: &std::io::Error) -> RecordError {
    RecordError::Write {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

/// An I/O error on the spool beside `--out`.
fn spool_error(path: &Path, error: &std::io::Error) -> RecordError {
    RecordError::Write {
        path: path.to_owned(),
        message: format!(
            "spooling the events in {}: {error}",
            directory_of(path).display()
        ),
    }
}

/// `--out`, written whole or not at all: a temporary of a random name
/// beside it, created exclusively (so never through a file or a link
/// someone put there), persisted over it at the end; dropped unpersisted,
/// it is removed (a failed recording leaves no file).
struct Output {
    path: PathBuf,
    file: tempfile::NamedTempFile,
}

impl Output {
    fn create(path: &Path) -> Result<Self, RecordError> {
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
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".recording");
        // The mode a plain create gives (0666 less the umask), not the
        // temporary's private 0600: the fixture is meant to be shared.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let file = builder
            .tempfile_in(directory_of(path))
            .map_err(|e| write_error(path, &e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// The directory `--out` is in.
    fn dir(&self) -> &Path {
        directory_of(&self.path)
    }

    /// Writes the fixture of `entries`, then puts it in place.
    fn write(self, tenant: &str, entries: &[Entry], spool: Spool) -> Result<(), RecordError> {
        let mut reader = spool
            .into_reader()
            .map_err(|e| spool_error(&self.path, &e))?;
        let mut out = BufWriter::new(self.file.as_file());
        write_fixture(&mut out, tenant, entries, &mut reader)
            .and_then(|()| out.flush())
            .map_err(|e| write_error(&self.path, &e))?;
        drop(out);
        self.file
            .as_file()
            .sync_all()
            .map_err(|e| write_error(&self.path, &e))?;
        let path = self.path.clone();
        self.file
            .persist(&path)
            .map_err(|e| write_error(&path, &e.error))?;
        Ok(())
    }
}

/// The directory a path is in (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries of `events` (aggregate id, type, event texts), spooled.
    fn spooled(out: &Output, streams: &[(&str, &str, &[&str])]) -> (Vec<Entry>, Spool) {
        let mut spool = Spool::create(out).expect("spool");
        let entries = streams
            .iter()
            .map(|(id, kind, events)| Entry {
                aggregate_id: (*id).to_owned(),
                aggregate_type: (*kind).to_owned(),
                events: events
                    .iter()
                    .map(|text| spool.push(text).expect("push"))
                    .collect(),
            })
            .collect();
        (entries, spool)
    }

    /// The file, byte for byte, as the recorder always wrote it, with the
    /// events read back from the spool out of arrival order.
    #[test]
    fn the_file_is_written_from_the_spool_as_before() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.json");
        let out = Output::create(&path).expect("output");
        let (mut entries, spool) = spooled(
            &out,
            &[
                ("a-\"1\"", "A", &["{\"e\":1}", "{\"e\":2}"]),
                ("b", "B", &["{\"e\":3}"]),
            ],
        );
        // The second event of a-1 arrived after b's (as when streams interleave).
        entries[0].events.swap(1, 0);
        entries.swap(0, 1);
        out.write("t\u{e9}", &entries, spool).expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"streams\": [\n  \
             {\"tenant_id\": \"t\u{e9}\", \"aggregate_id\": \"b\", \"aggregate_type\": \"B\", \"events\": [\n    \
             {\"e\":3}\n  ]},\n  \
             {\"tenant_id\": \"t\u{e9}\", \"aggregate_id\": \"a-\\\"1\\\"\", \"aggregate_type\": \"A\", \"events\": [\n    \
             {\"e\":2},\n    {\"e\":1}\n  ]}\n]}\n"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.json"], "no temporary left");

        let empty = dir.path().join("empty.json");
        let out = Output::create(&empty).expect("output");
        let (entries, spool) = spooled(&out, &[]);
        out.write("t", &entries, spool).expect("write");
        assert_eq!(
            std::fs::read_to_string(&empty).expect("read"),
            "{\"streams\": []}\n"
        );
    }

    #[test]
    fn the_summary_counts_in_words() {
        let summary = |events, streams, pages, redacted| {
            RecordSummary {
                events,
                streams,
                redacted,
                pages,
            }
            .to_string()
        };
        assert_eq!(
            summary(1, 1, 1, 1),
            "1 event in 1 stream (1 ReadAll page, 1 value redacted)"
        );
        assert_eq!(
            summary(0, 0, 2, 0),
            "0 events in 0 streams (2 ReadAll pages, 0 values redacted)"
        );
    }

    #[test]
    fn long_ids_are_clipped_in_messages() {
        assert_eq!(clipped("order-1"), "order-1");
        let long = "\u{e9}".repeat(100);
        assert_eq!(clipped(&long), format!("{}...", "\u{e9}".repeat(64)));
        assert_eq!(clipped(&long[..128]), long[..128]);
    }
}
