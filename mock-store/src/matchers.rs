//! Request matchers, in the style of the `wiremock` crate:
//! `Mock::given(append()).and(aggregate_id("order-1")).and(event(0).event_type("OrderCreated"))`.
//!
//! Every matcher but [`predicate`] is data (a [`FieldPath`] and a
//! [`Pattern`] over the call's JSON view, see [`crate::wire`]), so the same
//! matchers can come from JSON over the control API or from Python dicts.
//! Builder functions panic on an invalid regex or path: they are called
//! from test code with literals, where a panic is the clearest report.

use crate::{
    pattern::{FieldPath, Mismatch, Pattern},
    wire::{CallRequest, Rpc},
};
use serde_json::{Map, Value};
use std::{collections::BTreeMap, fmt, sync::Arc};

/// What a matcher sees of a call.
#[derive(Debug, Clone, Copy)]
pub struct CallView<'a> {
    /// The request as received.
    pub request: &'a CallRequest,
    /// Its JSON view.
    pub json: &'a Value,
    /// gRPC metadata (ASCII entries), keys lower-case.
    pub metadata: &'a BTreeMap<String, String>,
}

type PredicateFn = dyn Fn(&CallView<'_>) -> bool + Send + Sync;

/// One condition a call must meet.
#[derive(Clone)]
pub enum Matcher {
    /// The call is this RPC.
    Rpc(Rpc),
    /// The value at `path` of the request (the whole request when `None`)
    /// matches `pattern`.
    Field {
        /// Where in the request's JSON view.
        path: Option<FieldPath>,
        /// What must be there.
        pattern: Pattern,
    },
    /// The gRPC metadata entry `key` matches `pattern`.
    Metadata {
        /// Metadata key, lower-case.
        key: String,
        /// What its value must match.
        pattern: Pattern,
    },
    /// A closure decides (Rust only).
    Predicate {
        /// Shown in reports.
        description: String,
        /// The test.
        test: Arc<PredicateFn>,
    },
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Rpc(rpc) => write!(f, "rpc = {rpc}"),
            Matcher::Field {
                path: None,
                pattern,
            } => write!(f, "request ⊇ {pattern}"),
            Matcher::Field {
                path: Some(p),
                pattern,
            } => write!(f, "{p} = {pattern}"),
            Matcher::Metadata { key, pattern } => write!(f, "metadata {key:?} = {pattern}"),
            Matcher::Predicate { description, .. } => write!(f, "predicate {description:?}"),
        }
    }
}

impl Matcher {
    /// Appends to `out` why `call` does not meet this condition (nothing if it does).
    pub fn diff(&self, call: &CallView<'_>, out: &mut Vec<Mismatch>) {
        match self {
            Matcher::Rpc(rpc) => {
                let got = call.request.rpc();
                if got != *rpc {
                    out.push(Mismatch {
                        path: "rpc".into(),
                        expected: rpc.to_string(),
                        got: got.to_string(),
                    });
                }
            }
            Matcher::Field { path, pattern } => {
                let (value, at) = match path {
                    None => (Some(call.json), String::new()),
                    Some(p) => (p.get(call.json), p.as_str().to_owned()),
                };
                pattern.diff(value, &at, out);
            }
            Matcher::Metadata { key, pattern } => {
                let value = call.metadata.get(key).map(|v| Value::String(v.clone()));
                pattern.diff(value.as_ref(), &format!("metadata[{key:?}]"), out);
            }
            Matcher::Predicate { description, test } => {
                if !test(call) {
                    out.push(Mismatch {
                        path: format!("predicate {description:?}"),
                        expected: "true".into(),
                        got: "false".into(),
                    });
                }
            }
        }
    }

    /// Whether `call` meets this condition.
    pub fn matches(&self, call: &CallView<'_>) -> bool {
        let mut out = Vec::new();
        self.diff(call, &mut out);
        out.is_empty()
    }

    /// Why this matcher can never match a call to `rpc`, if it cannot: a
    /// field the RPC's request does not have (`aggregate_id` on Subscribe,
    /// whose request has `aggregate_id_prefix`).
    pub fn never_matches(&self, rpc: Rpc) -> Option<String> {
        let Matcher::Field {
            path: Some(path), ..
        } = self
        else {
            return None;
        };
        let key = path.first_key()?;
        let fields = request_fields(rpc);
        if fields.contains(&key) {
            return None;
        }
        let hint = if rpc == Rpc::Subscribe && key == "aggregate_id" {
            "; for the streams a subscription covers use matchers::aggregate_id_prefix"
        } else {
            ""
        };
        Some(format!(
            "the matcher `{self}` can never match a {rpc} call: its request has no field {key:?} (it has {}){hint}",
            if fields.is_empty() {
                "none".to_owned()
            } else {
                fields.join(", ")
            }
        ))
    }

    /// The RPC this matcher restricts to, if it is an RPC matcher.
    pub fn rpc(&self) -> Option<Rpc> {
        match self {
            Matcher::Rpc(rpc) => Some(*rpc),
            _ => None,
        }
    }
}

fn json_pattern(value: Value) -> Pattern {
    Pattern::from_json(&value).unwrap_or_else(|e| panic!("invalid pattern: {e}"))
}

fn path(text: &str) -> FieldPath {
    FieldPath::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// Calls to `Append`.
pub fn append() -> Matcher {
    Matcher::Rpc(Rpc::Append)
}

/// Calls to `ReadStream`.
pub fn read_stream() -> Matcher {
    Matcher::Rpc(Rpc::ReadStream)
}

/// Calls to `Subscribe`.
pub fn subscribe() -> Matcher {
    Matcher::Rpc(Rpc::Subscribe)
}

/// Calls to `ReadAll`.
pub fn read_all() -> Matcher {
    Matcher::Rpc(Rpc::ReadAll)
}

/// Calls to `GetServerInfo`.
pub fn server_info() -> Matcher {
    Matcher::Rpc(Rpc::GetServerInfo)
}

/// The fields of `rpc`'s request, as its JSON view names them.
pub fn request_fields(rpc: Rpc) -> &'static [&'static str] {
    match rpc {
        Rpc::Append => &[
            "tenant_id",
            "aggregate_id",
            "aggregate_type",
            "expected_aggregate_nonce",
            "idempotency_key",
            "events",
        ],
        Rpc::ReadStream => &[
            "tenant_id",
            "aggregate_id",
            "from_aggregate_nonce",
            "max_count",
            "forward",
        ],
        Rpc::Subscribe => &["tenant_id", "aggregate_id_prefix", "from_global_nonce"],
        Rpc::ReadAll => &["tenant_id", "from_global_nonce", "max_count", "forward"],
        Rpc::GetServerInfo => &[],
    }
}

/// Why a set of matchers can never all hold, if they cannot: a field
/// matcher on a field the RPC they restrict to does not have. Mounting such
/// an expectation is refused (it would silently match nothing).
pub fn never_matching(matchers: &[Matcher]) -> Option<String> {
    let rpc = matchers.iter().find_map(Matcher::rpc)?;
    matchers.iter().find_map(|m| m.never_matches(rpc))
}

/// `aggregate_id_prefix` (`Subscribe`) is `value`.
pub fn aggregate_id_prefix(value: &str) -> Matcher {
    field("aggregate_id_prefix", value)
}

/// `from_global_nonce` (`ReadAll`, `Subscribe`) is `value`.
pub fn from_global_nonce(value: u64) -> Matcher {
    field("from_global_nonce", value)
}

/// `max_count` (`ReadAll`, `ReadStream`) is `value`.
pub fn max_count(value: u32) -> Matcher {
    field("max_count", value)
}

/// `forward` (`ReadAll`, `ReadStream`) is `value`.
pub fn forward(value: bool) -> Matcher {
    field("forward", value)
}

/// The request matches a partial JSON pattern: only the fields given are
/// checked (see [`crate::pattern`]).
pub fn request(pattern: Value) -> Matcher {
    Matcher::Field {
        path: None,
        pattern: json_pattern(pattern),
    }
}

/// The field at `path` (e.g. `events[0].meta.event_type`) matches `pattern`.
pub fn field(path_text: &str, pattern: impl Into<Value>) -> Matcher {
    Matcher::Field {
        path: Some(path(path_text)),
        pattern: json_pattern(pattern.into()),
    }
}

/// The string field at `path` matches the regex `re`.
pub fn field_regex(path_text: &str, re: &str) -> Matcher {
    Matcher::Field {
        path: Some(path(path_text)),
        pattern: Pattern::regex(re).unwrap_or_else(|e| panic!("{e}")),
    }
}

/// `tenant_id` is `value`.
pub fn tenant_id(value: &str) -> Matcher {
    field("tenant_id", value)
}

/// `aggregate_id` is `value`.
pub fn aggregate_id(value: &str) -> Matcher {
    field("aggregate_id", value)
}

/// `aggregate_id` matches the regex `re`.
pub fn aggregate_id_regex(re: &str) -> Matcher {
    field_regex("aggregate_id", re)
}

/// `aggregate_type` is `value`.
pub fn aggregate_type(value: &str) -> Matcher {
    field("aggregate_type", value)
}

/// `expected_aggregate_nonce` is `value`.
pub fn expected_aggregate_nonce(value: u64) -> Matcher {
    field("expected_aggregate_nonce", value)
}

/// `idempotency_key` is `value`.
pub fn idempotency_key(value: &str) -> Matcher {
    field("idempotency_key", value)
}

/// The append carries exactly `count` events.
pub fn event_count(count: usize) -> Matcher {
    Matcher::Field {
        path: Some(path("events")),
        pattern: Pattern::Array(vec![Pattern::Any; count]),
    }
}

/// The gRPC metadata entry `key` is `value`.
pub fn metadata(key: &str, value: &str) -> Matcher {
    Matcher::Metadata {
        key: key.to_ascii_lowercase(),
        pattern: Pattern::exact(value),
    }
}

/// The gRPC metadata entry `key` matches the regex `re`.
pub fn metadata_regex(key: &str, re: &str) -> Matcher {
    Matcher::Metadata {
        key: key.to_ascii_lowercase(),
        pattern: Pattern::regex(re).unwrap_or_else(|e| panic!("{e}")),
    }
}

/// A closure decides; `description` names it in reports.
pub fn predicate(
    description: &str,
    test: impl Fn(&CallView<'_>) -> bool + Send + Sync + 'static,
) -> Matcher {
    Matcher::Predicate {
        description: description.to_owned(),
        test: Arc::new(test),
    }
}

/// Matches event `index` of an append (see [`EventMatcher`]).
pub fn event(index: usize) -> EventMatcher {
    EventMatcher {
        index: Some(index),
        fields: Map::new(),
        meta: Map::new(),
    }
}

/// The append's events, one matcher per event, and no other event.
pub fn events(matchers: impl IntoIterator<Item = EventMatcher>) -> Matcher {
    let items = matchers
        .into_iter()
        .map(|m| json_pattern(m.to_json()))
        .collect();
    Matcher::Field {
        path: Some(path("events")),
        pattern: Pattern::Array(items),
    }
}

/// A partial matcher on one event: only the fields set are checked.
#[derive(Debug, Clone, Default)]
pub struct EventMatcher {
    index: Option<usize>,
    fields: Map<String, Value>,
    meta: Map<String, Value>,
}

impl EventMatcher {
    /// A matcher for any event, for [`events`].
    pub fn any() -> Self {
        Self::default()
    }

    fn meta(mut self, key: &str, value: Value) -> Self {
        self.meta.insert(key.to_owned(), value);
        self
    }

    /// `meta.event_type` is `value`.
    pub fn event_type(self, value: &str) -> Self {
        self.meta("event_type", value.into())
    }

    /// `meta.event_version` (the schema revision) is `value`.
    pub fn revision(self, value: u32) -> Self {
        self.meta("event_version", value.into())
    }

    /// `meta.event_id` matches the regex `re`.
    pub fn event_id_regex(self, re: &str) -> Self {
        self.meta("event_id", serde_json::json!({ "$regex": re }))
    }

    /// `meta.aggregate_nonce` is `value`.
    pub fn aggregate_nonce(self, value: u64) -> Self {
        self.meta("aggregate_nonce", value.into())
    }

    /// `meta.correlation_id` is `value`.
    pub fn correlation_id(self, value: &str) -> Self {
        self.meta("correlation_id", value.into())
    }

    /// `meta.causation_id` is `value`.
    pub fn causation_id(self, value: &str) -> Self {
        self.meta("causation_id", value.into())
    }

    /// `meta.content_type` is `value`.
    pub fn content_type(self, value: &str) -> Self {
        self.meta("content_type", value.into())
    }

    /// Header `key` is `value` (other headers are ignored).
    pub fn header(mut self, key: &str, value: &str) -> Self {
        let headers = self
            .meta
            .entry("headers")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(h) = headers {
            h.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Any metadata field by its protobuf name, with a JSON pattern.
    pub fn meta_field(self, key: &str, pattern: Value) -> Self {
        self.meta(key, pattern)
    }

    /// The payload, decoded as JSON, contains `subset` (partial match).
    pub fn payload(mut self, subset: Value) -> Self {
        self.fields.insert("payload".into(), subset);
        self
    }

    /// The JSON pattern this matcher stands for.
    pub fn to_json(&self) -> Value {
        let mut obj = self.fields.clone();
        if !self.meta.is_empty() {
            obj.insert("meta".into(), Value::Object(self.meta.clone()));
        }
        Value::Object(obj)
    }
}

impl From<EventMatcher> for Matcher {
    fn from(m: EventMatcher) -> Self {
        let index = m.index.unwrap_or(0);
        Matcher::Field {
            path: Some(path(&format!("events[{index}]"))),
            pattern: json_pattern(m.to_json()),
        }
    }
}
