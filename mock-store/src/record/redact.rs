//! `--redact`: RFC 6901 JSON pointers into JSON payloads, each value found
//! replaced by a stable placeholder, so production data can become test
//! data without breaking what the data means to the code under test.
//!
//! Stable: one recording maps equal values (compared as JSON) to the same
//! placeholder wherever they appear, under any pointer and in any event,
//! so "these two events name the same customer" still holds. Placeholders
//! are numbered in order of first appearance, never derived from the value
//! (a hash of an e-mail address can be reversed by guessing). A string
//! becomes `"redacted-<n>"`, a number becomes the number `<n>` (code that
//! reads a number still reads one), anything else (object, array, boolean,
//! null) the string `"redacted-<n>"`.

use serde_json::Value;
use std::collections::HashMap;

/// A `--redact` value that is not a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--redact {pointer:?}: not a JSON pointer: {reason} (RFC 6901: empty for the whole payload, or /-separated keys with ~0 for ~ and ~1 for /, e.g. /customer/email)"
)]
pub struct PointerError {
    /// The value given.
    pub pointer: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks one pointer (RFC 6901, section 3).
pub fn check_pointer(pointer: &str) -> Result<(), PointerError> {
    let error = |reason: String| PointerError {
        pointer: pointer.to_owned(),
        reason,
    };
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(error("it must be empty or start with /".to_owned()));
    }
    let mut chars = pointer.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '~' && !matches!(chars.peek(), Some((_, '0' | '1'))) {
            return Err(error(format!("~ at byte {at} must be followed by 0 or 1")));
        }
    }
    Ok(())
}

/// The placeholders of one recording.
#[derive(Debug, Default)]
pub struct Redactor {
    pointers: Vec<String>,
    /// A value's JSON text -> its placeholder.
    placeholders: HashMap<String, Value>,
    /// Values replaced so far.
    pub replaced: usize,
}

impl Redactor {
    /// A redactor for `pointers`, each checked.
    pub fn new(pointers: &[String]) -> Result<Self, PointerError> {
        for pointer in pointers {
            check_pointer(pointer)?;
        }
        Ok(Self {
            pointers: pointers.to_vec(),
            ..Self::default()
        })
    }

    /// Whether any pointer was given.
    pub fn is_active(&self) -> bool {
        !self.pointers.is_empty()
    }

    /// Replaces every value the pointers find in `payload`; returns whether
    /// anything was replaced. A pointer that finds nothing changes nothing.
    pub fn redact(&mut self, payload: &mut Value) -> bool {
        let mut changed = false;
        for pointer in &self.pointers {
            let Some(found) = payload.pointer_mut(pointer) else {
                continue;
            };
            let next = self.placeholders.len() + 1;
            let placeholder = self
                .placeholders
                .entry(found.to_string())
                .or_insert_with(|| match found {
                    Value::Number(_) => Value::from(next),
                    _ => Value::from(format!("redacted-{next}")),
                })
                .clone();
            *found = placeholder;
            self.replaced += 1;
            changed = true;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_are_checked() {
        for good in ["", "/", "/a", "/a/0", "/a~1b/c~0d", "/ spaced"] {
            assert!(check_pointer(good).is_ok(), "{good}");
        }
        let err = check_pointer("customer/email").unwrap_err();
        assert!(err.to_string().starts_with(
            "--redact \"customer/email\": not a JSON pointer: it must be empty or start with /"
        ));
        let err = check_pointer("/a~2").unwrap_err();
        assert_eq!(err.reason, "~ at byte 2 must be followed by 0 or 1");
        assert!(check_pointer("/a~").is_err());
        assert!(Redactor::new(&["/ok".into(), "bad".into()]).is_err());
    }

    #[test]
    fn equal_values_get_equal_placeholders() {
        let mut r = Redactor::new(&["/email".into(), "/to/email".into(), "/n".into()]).unwrap();
        let mut first = json!({"email": "a@x", "to": {"email": "b@x"}, "n": 42, "keep": 1});
        let mut second = json!({"email": "b@x", "n": 42});
        let mut untouched = json!({"other": "a@x"});
        assert!(r.redact(&mut first));
        assert!(r.redact(&mut second));
        assert!(!r.redact(&mut untouched));
        assert_eq!(
            first,
            json!({"email": "redacted-1", "to": {"email": "redacted-2"}, "n": 3, "keep": 1})
        );
        assert_eq!(second, json!({"email": "redacted-2", "n": 3}));
        assert_eq!(untouched, json!({"other": "a@x"}));
        assert_eq!(r.replaced, 5);
    }

    #[test]
    fn pointers_reach_arrays_escapes_and_the_whole_payload() {
        let mut r = Redactor::new(&["/items/1/sku".into(), "/a~1b".into()]).unwrap();
        let mut v = json!({"items": [{"sku": "x"}, {"sku": "y"}], "a/b": {"deep": true}});
        r.redact(&mut v);
        assert_eq!(
            v,
            json!({"items": [{"sku": "x"}, {"sku": "redacted-1"}], "a/b": "redacted-2"})
        );
        let mut whole = Redactor::new(&[String::new()]).unwrap();
        let mut v = json!({"secret": 1});
        whole.redact(&mut v);
        assert_eq!(v, json!("redacted-1"));
    }
}
