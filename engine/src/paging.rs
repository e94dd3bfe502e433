//! The cursor rules of `spec/semantics.md`, written once for ReadStream
//! (positions are aggregate nonces) and ReadAll (global nonces).
//!
//! The engine resolves the request's `from` with [`start`], a backend cuts
//! the page with [`cut_page`] over its sorted, visible events, and the
//! engine computes the next cursor with [`next_cursor`].

use crate::storage::{Page, PageRequest, RecordedEvent, is_undecodable};
use prost::Message;

/// Where a page read starts, or `None` for an empty final page.
///
/// Forward, 0 and 1 both start at the first event. Backward, 0 is before
/// every event (an empty page with `is_end` and cursor 0, so 0 is a terminal
/// cursor that never repeats an event), and any position at or past the head
/// reads from the head.
pub fn start(from: u64, forward: bool) -> Option<u64> {
    match (forward, from) {
        (true, from) => Some(from.max(1)),
        (false, 0) => None,
        (false, from) => Some(from),
    }
}

/// The cursor of the next page: last returned + 1 forward, - 1 backward (so
/// pages never overlap); an empty page keeps `from`, so a reader polling the
/// tail sees each new event once.
pub fn next_cursor(from: u64, forward: bool, last_position: Option<u64>) -> u64 {
    match last_position {
        None => from,
        Some(last) if forward => last.saturating_add(1),
        Some(last) => last.saturating_sub(1),
    }
}

/// Encoded size of an event inside a repeated field: tag, length, body.
pub(crate) fn framed_len(event: &RecordedEvent) -> usize {
    let len = event.encoded_len();
    1 + prost::length_delimiter_len(len) + len
}

/// Cuts one page out of `events` (ascending by `position`, every one
/// visible): from `request.from` in the request's direction, at most
/// `max_count` events and `max_bytes` bytes (at least one event). A page
/// stops before an undecodable event; when that event would come first,
/// the page is empty and names it, so every event before it is delivered
/// and nothing past it.
///
/// Cost: a binary search plus the page.
pub(crate) fn cut_page(
    events: &[RecordedEvent],
    position: impl Fn(&RecordedEvent) -> u64,
    request: &PageRequest,
) -> Page {
    let mut page = Page::default();
    let mut bytes = 0usize;
    let mut take = |e: &RecordedEvent, page: &mut Page| -> bool {
        if is_undecodable(e) {
            if page.events.is_empty() {
                page.undecodable = e.meta.as_ref().map(|m| m.global_nonce);
            }
            return false;
        }
        bytes = bytes.saturating_add(framed_len(e));
        if page.events.len() >= request.max_count
            || (bytes > request.max_bytes && !page.events.is_empty())
        {
            return false;
        }
        page.events.push(e.clone());
        true
    };
    if request.forward {
        let start = events.partition_point(|e| position(e) < request.from);
        for e in &events[start..] {
            if !take(e, &mut page) {
                break;
            }
        }
        page.more = start + page.events.len() < events.len();
    } else {
        let end = events.partition_point(|e| position(e) <= request.from);
        for e in events[..end].iter().rev() {
            if !take(e, &mut page) {
                break;
            }
        }
        page.more = end > page.events.len();
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_from_zero_is_an_empty_final_page() {
        assert_eq!(start(0, false), None);
        assert_eq!(start(0, true), Some(1));
        assert_eq!(start(1, true), Some(1));
        assert_eq!(start(u64::MAX, false), Some(u64::MAX));
    }

    #[test]
    fn an_empty_page_keeps_its_cursor() {
        assert_eq!(next_cursor(7, true, None), 7);
        assert_eq!(next_cursor(7, true, Some(9)), 10);
        assert_eq!(next_cursor(7, false, Some(1)), 0);
    }
}
