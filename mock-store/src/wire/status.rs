//! gRPC status codes by name, both ways. JSON, reports and Python speak of
//! `"UNAVAILABLE"`, never of Rust's `Unavailable` or a bare number, so a
//! status reads the same in every language that looks at the mock.

use serde_json::Value;
use tonic::Code;

/// The canonical names, indexed by code number (0-16).
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A value that is not a gRPC status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a gRPC status code (a name like \"UNAVAILABLE\" or a number 0-16)")]
pub struct CodeError {
    /// The value as given (JSON text).
    pub value: String,
}

/// The canonical name of `code`, e.g. `"UNAVAILABLE"`.
pub fn code_name(code: Code) -> &'static str {
    usize::try_from(code as i32)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// A code from its name: canonical (`UNAVAILABLE`), any case
/// (`unavailable`) or Rust's (`Unavailable`, `DataLoss`).
pub fn code_from_name(name: &str) -> Option<Code> {
    let upper = name.to_ascii_uppercase();
    // `DataLoss` -> `DATA_LOSS`: an underscore before each inner capital.
    let snake: String = name
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
            sep.into_iter()
                .chain(std::iter::once(c.to_ascii_uppercase()))
        })
        .collect();
    NAMES
        .iter()
        .position(|n| *n == upper || *n == snake)
        .and_then(|i| i32::try_from(i).ok())
        .map(Code::from_i32)
}

/// A code from JSON: its name (see [`code_from_name`]) or its number.
pub fn code_from_json(value: &Value) -> Result<Code, CodeError> {
    let code = match value {
        Value::Number(n) => n
            .as_i64()
            .filter(|n| (0..=16).contains(n))
            .and_then(|n| i32::try_from(n).ok())
            .map(Code::from_i32),
        Value::String(s) => code_from_name(s),
        _ => None,
    };
    code.ok_or_else(|| CodeError {
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_round_trip() {
        for n in 0..=16 {
            let code = Code::from_i32(n);
            assert_eq!(code_from_name(code_name(code)), Some(code));
        }
        assert_eq!(code_name(Code::DataLoss), "DATA_LOSS");
        assert_eq!(code_from_name("DataLoss"), Some(Code::DataLoss));
        assert_eq!(code_from_name("unavailable"), Some(Code::Unavailable));
        assert_eq!(code_from_name("nope"), None);
    }

    #[test]
    fn json_numbers_and_names() {
        assert_eq!(code_from_json(&Value::from(14)), Ok(Code::Unavailable));
        assert_eq!(code_from_json(&Value::from("ABORTED")), Ok(Code::Aborted));
        let err = code_from_json(&Value::from(17)).unwrap_err();
        assert_eq!(err.value, "17");
        assert!(code_from_json(&Value::Bool(true)).is_err());
    }
}
