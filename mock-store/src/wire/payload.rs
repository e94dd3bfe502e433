//! An event payload as JSON. Payloads are bytes on the wire; people write
//! and read them as JSON. A payload that parses as JSON shows as that JSON,
//! anything else as `{"$base64": "..."}`, and an empty payload as `null`.
//! Reading goes the other way, so every view of a payload round-trips.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Map, Value, json};
use std::fmt;

/// The key of a bytes payload: `{"$base64": "AAEC"}`.
pub const BASE64_KEY: &str = "$base64";

/// A payload that cannot be turned into bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// `{"$base64": ...}` holds something that is not base64.
    #[error("$base64: {0}")]
    Base64(String),
    /// `{"$base64": ...}` holds something that is not a string.
    #[error("$base64 must be a string, got {0}")]
    NotAString(String),
    /// `{"$base64": ...}` has other keys beside it.
    #[error("$base64 must be the only key of a bytes payload")]
    ExtraKeys,
}

/// The JSON view of payload bytes (see the module docs).
pub fn payload_json(payload: &[u8]) -> Value {
    if payload.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| json!({ BASE64_KEY: STANDARD.encode(payload) }))
}

/// The bytes of a JSON payload: `null` is empty, `{"$base64": ...}` is
/// decoded, anything else is encoded as JSON.
pub fn payload_bytes(payload: &Value) -> Result<Vec<u8>, PayloadError> {
    Payload::from_value(payload).map(|p| p.bytes)
}

/// A payload read from JSON: its bytes, and whether they are JSON (which
/// decides the default `content_type`, see [`crate::wire::event`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    /// The bytes to store.
    pub bytes: Vec<u8>,
    /// Whether the bytes are a JSON encoding (not `null`, not `$base64`).
    pub is_json: bool,
}

impl Payload {
    fn json(value: &Value) -> Self {
        Payload {
            // Encoding a `Value` cannot fail.
            bytes: serde_json::to_vec(value).unwrap_or_default(),
            is_json: true,
        }
    }

    /// Reads a payload from a JSON value (see the module docs).
    pub fn from_value(value: &Value) -> Result<Self, PayloadError> {
        match value {
            Value::Null => Ok(Payload::default()),
            Value::Object(map) if map.contains_key(BASE64_KEY) => Self::base64(map),
            other => Ok(Payload::json(other)),
        }
    }

    fn base64(map: &Map<String, Value>) -> Result<Self, PayloadError> {
        if map.len() != 1 {
            return Err(PayloadError::ExtraKeys);
        }
        match &map[BASE64_KEY] {
            Value::String(b) => Ok(Payload {
                bytes: STANDARD
                    .decode(b)
                    .map_err(|e| PayloadError::Base64(e.to_string()))?,
                is_json: false,
            }),
            other => Err(PayloadError::NotAString(other.to_string())),
        }
    }
}

/// A payload read from a fixture file, byte for byte: JSON is kept as
/// written, only the whitespace between tokens removed, so key order,
/// number spelling and string escapes survive (a recorded payload replays
/// with the bytes the source store returned). `null` and
/// `{"$base64": ...}` mean what they mean in [`Payload`].
///
/// Read through `serde_json`'s raw values, so it deserializes only from
/// JSON text (fixture files), never from a `Value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExactPayload(pub Payload);

impl ExactPayload {
    /// The payload of one JSON text (see the type's docs).
    pub fn from_text(text: &str) -> Result<Self, PayloadError> {
        let trimmed = text.trim();
        if trimmed == "null" {
            return Ok(Self::default());
        }
        if trimmed.starts_with('{')
            && let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed)
            && value.get(BASE64_KEY).is_some()
        {
            return Payload::from_value(&value).map(Self);
        }
        Ok(Self(Payload {
            bytes: compact_json(trimmed).into_bytes(),
            is_json: true,
        }))
    }
}

impl<'de> Deserialize<'de> for ExactPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Self::from_text(raw.get()).map_err(de::Error::custom)
    }
}

/// `text`, valid JSON, without the whitespace between its tokens.
pub fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Deserializes straight from the parser (not through a `Value`), so a
/// fixture file's errors keep the line of the payload itself.
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value, or {\"$base64\": \"...\"}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Payload, E> {
                Ok(Payload::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Payload, E> {
                Ok(Payload::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Payload, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Payload, E> {
                Ok(Payload::json(&Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Payload, E> {
                Ok(Payload::json(&Value::from(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Payload::json(&Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
                let mut entries = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    entries.insert(key, value);
                }
                Payload::from_value(&Value::Object(entries)).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn views_round_trip() {
        for bytes in [&b""[..], b"{\"a\":1}", b"\x00\x01\x02", b"\"text\""] {
            let view = payload_json(bytes);
            assert_eq!(payload_bytes(&view).unwrap(), bytes, "{view}");
        }
        assert_eq!(payload_json(b"\x00\x01\x02"), json!({"$base64": "AAEC"}));
    }

    #[test]
    fn bad_base64_is_an_error() {
        assert!(matches!(
            payload_bytes(&json!({"$base64": "not base64!"})),
            Err(PayloadError::Base64(_))
        ));
        assert_eq!(
            payload_bytes(&json!({"$base64": "AA==", "x": 1})),
            Err(PayloadError::ExtraKeys)
        );
        assert!(matches!(
            payload_bytes(&json!({"$base64": 1})),
            Err(PayloadError::NotAString(_))
        ));
    }
}
