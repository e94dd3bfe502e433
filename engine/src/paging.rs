//! The cursor rules of `spec/semantics.md`, written once for ReadStream
//! (positions are aggregate nonces) and ReadAll (global nonces).
//!
//! The engine resolves the request's `from` with [`start`], a backend cuts
//! the page with `cut_page` over its sorted, visible events, and the
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
/// pages never overlap). An empty forward page keeps `from`, so a reader
/// polling the tail sees each new event once; an empty backward page
/// returns 0 whatever its start, as the reference's `paging.rs` does (there
/// is nothing below it, and 0 is the terminal backward cursor).
pub fn next_cursor(from: u64, forward: bool, last_position: Option<u64>) -> u64 {
    match last_position {
        None if forward => from,
        None => 0,
        Some(last) if forward => last.saturating_add(1),
        Some(last) => last.saturating_sub(1),
    }
}

/// Encoded size of an event inside a repeated field: tag, length, body.
pub(crate) fn framed_len(event: &RecordedEvent) -> usize {
    let len = event.encoded_len();
    1 + prost::length_delimiter_len(len) + len
}

/// Cuts one page out of `len` events (ascending by `position(i)`, every
/// one visible): from `request.from` in the request's direction, at most
/// `max_count` events and `max_bytes` bytes (at least one event). A page
/// stops before an undecodable event; when that event would come first,
/// the page is empty and names it, so every event before it is delivered
/// and nothing past it. `event(i)` builds the `i`th event; it is called
/// only for the events the page looks at.
///
/// Cost: a binary search plus the page.
pub(crate) fn cut_page(
    len: usize,
    position: impl Fn(usize) -> u64,
    event: impl Fn(usize) -> RecordedEvent,
    request: &PageRequest,
) -> Page {
    let mut page = Page::default();
    let mut bytes = 0usize;
    let mut take = |e: RecordedEvent, page: &mut Page| -> bool {
        if is_undecodable(&e) {
            if page.events.is_empty() {
                page.undecodable = e.meta.as_ref().map(|m| m.global_nonce);
            }
            return false;
        }
        bytes = bytes.saturating_add(framed_len(&e));
        if page.events.len() >= request.max_count
            || (bytes > request.max_bytes && !page.events.is_empty())
        {
            return false;
        }
        page.events.push(e);
        true
    };
    let full = |page: &Page| !page.events.is_empty() && page.events.len() >= request.max_count;
    if request.forward {
        let start = partition_point(len, |i| position(i) < request.from);
        for i in start..len {
            // A full page ends before building the next event.
            if full(&page) || !take(event(i), &mut page) {
                break;
            }
        }
        page.more = start + page.events.len() < len;
    } else {
        let end = partition_point(len, |i| position(i) <= request.from);
        for i in (0..end).rev() {
            if full(&page) || !take(event(i), &mut page) {
                break;
            }
        }
        page.more = end > page.events.len();
    }
    page
}

/// The first index in `0..len` where `pred` is false (`pred` holds for a
/// prefix), as `slice::partition_point` over indexes.
fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, len);
    while low < high {
        let mid = low + (high - low) / 2;
        if pred(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
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
    fn an_empty_forward_page_keeps_its_cursor() {
        assert_eq!(next_cursor(7, true, None), 7);
        assert_eq!(next_cursor(7, true, Some(9)), 10);
        assert_eq!(next_cursor(7, false, Some(1)), 0);
        assert_eq!(next_cursor(7, false, Some(5)), 4);
    }

    #[test]
    fn an_empty_backward_page_returns_cursor_zero_whatever_its_start() {
        for from in [0, 1, 5, 1 << 62, (1 << 63) - 1, u64::MAX] {
            assert_eq!(next_cursor(from, false, None), 0, "from {from}");
        }
    }
}
