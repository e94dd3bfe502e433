//! Patterns over JSON views, and the field-by-field diff a failed match
//! explains itself with (`events[1].payload.amount: expected 10, got 12`).
//!
//! A pattern is written as JSON. An object matches any object that has at
//! least its keys, each matching (partial match: fields not given are
//! ignored); an array matches an array of the same length, item by item; a
//! scalar matches an equal scalar (numbers by value, so `10` matches `10.0`).
//! Three operators: `{"$regex": "^order-"}` matches strings, `{"$any": true}`
//! matches anything present, `{"$eq": ...}` requires exact equality, extra
//! fields included.

use serde_json::Value;
use std::fmt;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Matches any value that is present.
    Any,
    /// Matches strings the regex finds a match in.
    Regex(regex::Regex),
    /// Matches objects having these keys, each matching.
    Object(Vec<(String, Pattern)>),
    /// Matches arrays of this length, item by item.
    Array(Vec<Pattern>),
    /// Matches an equal value (numbers by value; objects and arrays whole).
    Exact(Value),
}

/// A pattern or field path that is not valid; the message names where and
/// why. `at` is the place in the pattern (`pattern` for its root, e.g.
/// `events[0].meta`), empty for a regex compiled on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A `$regex` that does not compile.
    #[error("{}invalid regex {regex:?}: {reason}", prefix(.at))]
    InvalidRegex {
        /// Where in the pattern.
        at: String,
        /// The regex.
        regex: String,
        /// The regex compiler's reason.
        reason: String,
    },
    /// An operator object with other keys beside the operator.
    #[error("{at}: operator {operator} must be the only key of its object")]
    OperatorNotAlone {
        /// Where in the pattern.
        at: String,
        /// The operator, e.g. `$regex`.
        operator: String,
    },
    /// An unknown operator, or a known one with the wrong argument.
    #[error(
        "{at}: unknown operator {operator} with argument {argument} (known: $regex with a string, $any: true, $eq)"
    )]
    UnknownOperator {
        /// Where in the pattern.
        at: String,
        /// The operator.
        operator: String,
        /// Its argument, as JSON.
        argument: String,
    },
    /// A field path that does not parse.
    #[error("invalid field path {path:?}: {reason}")]
    InvalidPath {
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn prefix(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!("{at}: ")
    }
}

/// One difference between a pattern and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where, e.g. `events[1].payload.amount` (empty for the root).
    pub path: String,
    /// What the pattern wanted, as JSON or a description.
    pub expected: String,
    /// What the value had.
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(request)"
        } else {
            &self.path
        };
        write!(f, "{path}: expected {}, got {}", self.expected, self.got)
    }
}

impl Pattern {
    /// Compiles a JSON pattern (see the module docs).
    pub fn from_json(value: &Value) -> Result<Self, PatternError> {
        Self::compile(value, "")
    }

    /// A pattern matching exactly `value` (objects: no extra fields).
    pub fn exact(value: impl Into<Value>) -> Self {
        Pattern::Exact(value.into())
    }

    /// A pattern matching strings in which `regex` finds a match.
    pub fn regex(regex: &str) -> Result<Self, PatternError> {
        regex::Regex::new(regex)
            .map(Pattern::Regex)
            .map_err(|e| PatternError::InvalidRegex {
                at: String::new(),
                regex: regex.to_owned(),
                reason: e.to_string(),
            })
    }

    fn compile(value: &Value, path: &str) -> Result<Self, PatternError> {
        match value {
            Value::Object(map) => {
                if let Some(op) = map.keys().find(|k| k.starts_with('$')) {
                    if map.len() != 1 {
                        return Err(PatternError::OperatorNotAlone {
                            at: display_path(path).to_owned(),
                            operator: op.clone(),
                        });
                    }
                    let arg = &map[op.as_str()];
                    return match (op.as_str(), arg) {
                        ("$regex", Value::String(r)) => Self::regex(r).map_err(|e| match e {
                            PatternError::InvalidRegex { regex, reason, .. } => {
                                PatternError::InvalidRegex {
                                    at: display_path(path).to_owned(),
                                    regex,
                                    reason,
                                }
                            }
                            other => other,
                        }),
                        ("$any", Value::Bool(true)) => Ok(Pattern::Any),
                        ("$eq", v) => Ok(Pattern::Exact(v.clone())),
                        // `$base64` is how non-JSON payloads are shown: match it literally.
                        ("$base64", Value::String(_)) => Ok(Pattern::Exact(value.clone())),
                        _ => Err(PatternError::UnknownOperator {
                            at: display_path(path).to_owned(),
                            operator: op.clone(),
                            argument: arg.to_string(),
                        }),
                    };
                }
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(v, &join_key(path, k))?)))
                    .collect::<Result<_, _>>()
                    .map(Pattern::Object)
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Self::compile(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Pattern::Array),
            scalar => Ok(Pattern::Exact(scalar.clone())),
        }
    }

    /// Whether `actual` matches.
    pub fn matches(&self, actual: Option<&Value>) -> bool {
        let mut out = Vec::new();
        self.diff(actual, "", &mut out);
        out.is_empty()
    }

    /// Appends to `out` every difference between the pattern and `actual`
    /// (`None` when the field is missing), with paths under `path`.
    pub fn diff(&self, actual: Option<&Value>, path: &str, out: &mut Vec<Mismatch>) {
        let Some(actual) = actual else {
            out.push(Mismatch {
                path: path.to_owned(),
                expected: self.to_string(),
                got: "nothing (no such field)".into(),
            });
            return;
        };
        let mut mismatch = || {
            out.push(Mismatch {
                path: path.to_owned(),
                expected: self.to_string(),
                got: show(actual),
            })
        };
        match self {
            Pattern::Any => {}
            Pattern::Regex(re) => match actual {
                Value::String(s) if re.is_match(s) => {}
                _ => mismatch(),
            },
            Pattern::Exact(expected) => {
                if !json_eq(expected, actual) {
                    mismatch();
                }
            }
            Pattern::Object(fields) => match actual {
                Value::Object(map) => {
                    for (key, pattern) in fields {
                        pattern.diff(map.get(key), &join_key(path, key), out);
                    }
                }
                _ => mismatch(),
            },
            Pattern::Array(items) => match actual {
                Value::Array(values) => {
                    if items.len() != values.len() {
                        out.push(Mismatch {
                            path: path.to_owned(),
                            expected: count_items(items.len()),
                            got: count_items(values.len()),
                        });
                    }
                    for (i, (pattern, value)) in items.iter().zip(values).enumerate() {
                        pattern.diff(Some(value), &format!("{path}[{i}]"), out);
                    }
                }
                _ => mismatch(),
            },
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Any => f.write_str("anything"),
            Pattern::Regex(re) => write!(f, "a string matching /{}/", re.as_str()),
            Pattern::Exact(v) => f.write_str(&show(v)),
            Pattern::Object(fields) => {
                f.write_str("{")?;
                for (k, p) in fields {
                    write!(f, "{k:?}: {p}, ")?;
                }
                f.write_str("..}")
            }
            Pattern::Array(items) => {
                f.write_str("[")?;
                for (i, p) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A path into a JSON view: `aggregate_id`, `events[0].payload.amount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl FieldPath {
    /// Parses `a.b[2].c`; the message of an error names the path and the position.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |why: &str| PatternError::InvalidPath {
            path: text.to_owned(),
            reason: why.to_owned(),
        };
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
            if key.is_empty() && (segments.is_empty() || rest.is_empty()) {
                return Err(err("empty field name"));
            }
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_owned()));
            }
            while !rest.is_empty() {
                let close = rest.find(']').ok_or_else(|| err("missing ]"))?;
                let index = rest[1..close]
                    .parse()
                    .map_err(|_| err(&format!("{:?} is not an index", &rest[1..close])))?;
                segments.push(Segment::Index(index));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(err("unexpected text after ]"));
                }
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The first field name of the path (`events` for `events[0].meta`).
    pub fn first_key(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path, if present.
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.segments.iter().try_fold(root, |v, seg| match seg {
            Segment::Key(k) => v.get(k),
            Segment::Index(i) => v.get(i),
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `1 item`, `3 items`.
fn count_items(n: usize) -> String {
    format!("{n} item{}", if n == 1 { "" } else { "s" })
}

/// Compact JSON for reports.
pub fn show(value: &Value) -> String {
    value.to_string()
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "pattern" } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diff(pattern: Value, actual: Value) -> Vec<String> {
        let p = Pattern::from_json(&pattern).unwrap();
        let mut out = Vec::new();
        p.diff(Some(&actual), "", &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn partial_objects_ignore_fields_not_given() {
        assert!(diff(json!({"a": 1}), json!({"a": 1, "b": 2})).is_empty());
        assert_eq!(
            diff(json!({"a": 1, "c": 3}), json!({"a": 1})),
            ["c: expected 3, got nothing (no such field)"]
        );
    }

    #[test]
    fn nested_paths_name_the_field() {
        let got = diff(
            json!({"events": [{}, {"payload": {"amount": 10}}]}),
            json!({"events": [{"payload": {}}, {"payload": {"amount": 12}}]}),
        );
        assert_eq!(got, ["events[1].payload.amount: expected 10, got 12"]);
    }

    #[test]
    fn arrays_need_the_same_length() {
        assert_eq!(
            diff(json!([1]), json!([1, 2])),
            ["(request): expected 1 item, got 2 items"]
        );
    }

    #[test]
    fn objects_show_as_partial() {
        let p = |v: Value| Pattern::from_json(&v).unwrap().to_string();
        assert_eq!(p(json!({})), "{..}");
        assert_eq!(p(json!({"a": 1, "b": {}})), r#"{"a": 1, "b": {..}, ..}"#);
        assert_eq!(
            diff(json!({"payload": {}}), json!({"payload": null})),
            ["payload: expected {..}, got null"]
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(diff(json!(10), json!(10.0)).is_empty());
        assert_eq!(
            diff(json!(10), json!(10.5)),
            ["(request): expected 10, got 10.5"]
        );
    }

    #[test]
    fn operators() {
        assert!(diff(json!({"$regex": "^ord"}), json!("order-1")).is_empty());
        assert_eq!(
            diff(json!({"$regex": "^ord"}), json!("cart-1")),
            ["(request): expected a string matching /^ord/, got \"cart-1\""]
        );
        assert!(diff(json!({"a": {"$any": true}}), json!({"a": null})).is_empty());
        assert_eq!(
            diff(json!({"$eq": {"a": 1}}), json!({"a": 1, "b": 2})).len(),
            1
        );
    }

    #[test]
    fn bad_patterns_are_explained() {
        let e = Pattern::from_json(&json!({"a": {"$regex": "("}})).unwrap_err();
        assert!(e.to_string().starts_with("a: invalid regex \"(\""), "{e}");
        assert!(matches!(&e, PatternError::InvalidRegex { at, .. } if at == "a"));
        let e = Pattern::from_json(&json!({"a": {"$nope": 1}})).unwrap_err();
        assert!(e.to_string().contains("unknown operator $nope"), "{e}");
        assert!(
            matches!(&e, PatternError::UnknownOperator { operator, .. } if operator == "$nope")
        );
    }

    #[test]
    fn field_paths() {
        let p = FieldPath::parse("events[1].payload.amount").unwrap();
        let v = json!({"events": [{}, {"payload": {"amount": 5}}]});
        assert_eq!(p.get(&v), Some(&json!(5)));
        assert!(
            FieldPath::parse("events[x]")
                .unwrap_err()
                .to_string()
                .contains("\"x\" is not an index")
        );
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("events[1").is_err());
    }
}
