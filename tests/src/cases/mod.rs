//! The cases of the conformance suite and their registry.
//!
//! Each case is an `async fn case(ctx: Ctx)` in the module of the RPC it is
//! about; it panics when the store breaks the rule. [`for_each_case!`](crate::for_each_case) is
//! the one list of cases, with the rule of `spec/semantics.md` each checks
//! and, for the rules the reference store is known to break (the **(fix)**
//! points), what it gets wrong. [`all`] is built from that list, and so is
//! the `cargo test` suite (`tests/tests/conformance/main.rs`: one test per
//! case per target), so the command and our own CI run the same cases.

pub mod append;
pub mod concurrency;
pub mod marker;
pub mod paging;
pub mod read;
pub mod read_all;
pub mod server_info;
pub mod subscribe;
pub mod support;

use crate::Ctx;
use futures::future::BoxFuture;

/// Calls `$callback! { [args] module::case => "rule" (, deviation = "..")?; ... }`
/// with every case of the suite, in the order they are reported.
#[macro_export]
macro_rules! for_each_case {
    ($callback:ident $(, $arg:tt)*) => {
        $callback! { [$($arg)*]
            append::append_then_read_back => "Append: the response reports the new head; ReadStream returns the batch";
            append::empty_tenant_is_unauthenticated => "Append check 1: empty tenant_id is UNAUTHENTICATED";
            append::empty_request_fields_are_invalid => "Append check 2: empty aggregate_id, aggregate_type or events is INVALID_ARGUMENT";
            append::invalid_event_is_invalid_argument_naming_its_index => "Append check 3: an invalid event is INVALID_ARGUMENT naming its index";
            append::event_stream_fields_are_filled_from_the_request => "Append check 3: empty event tenant/aggregate fields are filled from the request";
            append::event_stream_field_mismatch_is_rejected => "Append check 3: event fields different from the request are rejected";
            append::empty_content_type_becomes_octet_stream => "Append check 3: empty content_type becomes application/octet-stream";
            append::store_fields_sent_by_the_client_are_overwritten => "Append check 3: store-assigned fields sent by the client are overwritten";
            append::every_client_field_round_trips => "Identity: every client-set field is stored as sent";
            append::checks_run_in_the_specified_order => "Append: checks run in order, the first failing decides";
            append::limits_are_checked_after_the_other_checks => "Append check 8: limits come after the other checks";
            append::idempotent_retry_returns_the_original_response_and_writes_nothing => "Append check 4: an idempotent retry returns the original response and writes nothing",
                deviation = "the reference memory backend checks idempotency after concurrency, so a retry fails with ABORTED";
            append::idempotent_retry_after_the_stream_moved_on_returns_the_original_response => "Append check 4: idempotency comes before the concurrency check",
                deviation = "the reference memory backend checks idempotency after concurrency, so a retry fails with ABORTED";
            append::idempotency_compares_the_normalized_batch => "Append check 4: the idempotency fingerprint is over the normalized batch";
            append::idempotency_key_reused_for_a_different_batch_is_already_exists => "Append check 4: a key reused for a different batch is ALREADY_EXISTS";
            append::idempotency_keys_are_per_stream => "Append check 4: idempotency keys are per stream";
            append::expected_zero_on_an_existing_stream_is_aborted => "Append check 5: expected 0 on an existing stream is ABORTED with ConcurrencyErrorDetail";
            append::conflict_detail_is_a_bare_any => "Errors: ABORTED carries ConcurrencyErrorDetail as a bare google.protobuf.Any in grpc-status-details-bin, as the reference sends it";
            append::expected_other_than_the_head_is_aborted => "Append check 5: expected other than the head is ABORTED with ConcurrencyErrorDetail";
            append::event_nonces_must_continue_the_head => "Append check 6: event i carries head + i + 1";
            append::event_id_used_in_the_tenant_is_already_exists => "Append check 7: an event_id used in the tenant is ALREADY_EXISTS";
            append::event_id_twice_in_a_batch_is_already_exists => "Append check 7: an event_id twice in a batch is ALREADY_EXISTS";
            append::event_ids_are_unique_per_tenant_only => "Append check 7: event ids are unique per tenant only";
            append::a_failed_batch_writes_nothing => "Identity: a batch is atomic";
            append::response_reports_the_new_head_and_the_last_global_nonce => "Append: response is the new head and the last event's global nonce";
            append::global_nonces_are_gap_free_across_streams_and_tenants => "Identity: global_nonce starts at 1, strictly increases and is gap-free";
            append::recorded_time_is_set_at_commit_and_never_decreases => "Identity: recorded_time_unix_ms is set by the store at commit";
            append::too_many_events_is_invalid => "Append check 8: more events than the batch limit is INVALID_ARGUMENT";
            append::ids_longer_than_the_limit_are_invalid => "Append check 8: ids longer than the limit are INVALID_ARGUMENT";
            append::too_large_request_is_resource_exhausted_and_the_store_survives => "Append check 8: a request over the size limit is RESOURCE_EXHAUSTED, never a crash";
            read::read_without_tenant_is_unauthenticated => "ReadStream: empty tenant_id is UNAUTHENTICATED";
            read::read_without_aggregate_id_is_invalid => "ReadStream: empty aggregate_id is INVALID_ARGUMENT";
            read::read_ids_longer_than_the_limit_are_invalid => "ReadStream: ids longer than the limit are INVALID_ARGUMENT";
            read::missing_stream_reads_empty_with_is_end => "ReadStream: a missing stream reads empty with is_end";
            read::max_count_zero_reads_to_the_end_and_large_is_not_capped => "ReadStream: max_count 0 reads to the end; a larger max_count is not capped";
            read::forward_reads_start_at_from => "Cursor rules: forward reads start at from, ascending";
            read::backward_reads_descend_from_from => "Cursor rules: backward reads descend from from";
            read::backward_from_zero_is_an_empty_final_page => "Cursor rules: backward from 0 is an empty page with is_end and cursor 0";
            read::backward_from_beyond_the_head_starts_at_the_head => "Cursor rules: backward from past the head starts at the head";
            read::is_end_is_true_exactly_when_nothing_follows => "Cursor rules: is_end is exact";
            read::paging_visits_every_event_once_in_both_directions => "Cursor rules: paging visits every event once in both directions";
            read::streams_are_isolated_by_tenant => "Identity: tenants are fully isolated";
            read::page_stops_early_under_the_response_size_limit => "ReadStream: a page stops early under the message size limit";
            subscribe::subscribe_without_tenant_is_unauthenticated => "Subscribe: empty tenant_id is UNAUTHENTICATED";
            subscribe::subscribe_prefix_longer_than_the_limit_is_invalid => "Subscribe: a prefix longer than the id limit is INVALID_ARGUMENT";
            subscribe::history_then_live_in_global_order => "Subscribe: history then live events, in global order";
            subscribe::from_global_nonce_selects_the_first_event => "Subscribe: from_global_nonce selects the first event";
            subscribe::prefix_filters_aggregate_ids => "Subscribe: aggregate_id_prefix filters the streams";
            subscribe::prefix_is_matched_literally => "Subscribe: the prefix is matched literally (`_`, `%`, `\\` are ordinary characters; capability literal_subscription_prefix)";
            subscribe::tenants_are_isolated => "Subscribe: tenants are isolated";
            subscribe::history_live_boundary_under_concurrent_appends => "Subscribe: no gap between history and live events",
                deviation = "the reference could drop events appended while a subscription switched from history to live";
            subscribe::slow_consumer_misses_nothing => "Subscribe: a slow consumer is caught up from the log, never skipped",
                deviation = "the reference drops events for lagging consumers";
            subscribe::subscription_stays_open_while_idle => "Subscribe: the stream stays open until cancelled";
            paging::paging_from_every_start_takes_the_minimal_calls => "Cursor rules: every start, both directions, minimal calls (ReadStream and ReadAll)";
            paging::tail_polling_sees_each_new_event_once => "Cursor rules: a reader polling the tail sees each new event once";
            paging::empty_backward_pages_return_cursor_zero => "Cursor rules: every empty backward page returns cursor 0 with is_end, whatever its start";
            read_all::read_all_without_tenant_is_unauthenticated => "ReadAll: empty tenant_id is UNAUTHENTICATED";
            read_all::read_all_is_the_tenants_log_in_global_order => "ReadAll: only the tenant's events, in global order";
            read_all::read_all_max_count_zero_is_100_and_large_is_capped => "ReadAll: max_count 0 is 100, larger than 1,000 is capped";
            read_all::read_all_page_sizes_follow_the_configured_limits => "ReadAll: the page sizes (100, 1,000) are configurable";
            read_all::read_all_page_stops_early_under_the_response_size_limit => "ReadAll: a page stops early under the message size limit";
            marker::marker_once_after_an_empty_history => "Subscribe: the caught-up marker is sent once, also after an empty history";
            marker::marker_once_after_the_history_before_live_events => "Subscribe: the caught-up marker comes after the history, before live events";
            marker::shutdown_ends_subscriptions_with_resume_from => "Subscribe: a subscription the store ends is UNAVAILABLE naming resume from global_nonce N";
            server_info::server_info_names_version_backend_and_capabilities => "GetServerInfo: version, api_version, backend and capabilities";
            server_info::default_limits_accept_a_1001_event_batch => "Append check 8: the default limits accept a 1,001-event batch";
            concurrency::racing_appenders_get_exactly_one_winner_per_nonce => "Append check 5: racing appenders get exactly one winner per nonce";
            concurrency::concurrent_appends_to_many_streams_all_succeed => "Identity: concurrent appends to many streams keep global nonces gap-free";
            concurrency::concurrent_idempotent_retries_write_once => "Append check 4: concurrent idempotent retries write once",
                deviation = "the reference memory backend checks idempotency after concurrency, so a retry fails with ABORTED";
            concurrency::concurrent_duplicate_event_ids_have_one_winner => "Append check 7: concurrent duplicate event ids have one winner";
        }
    };
}

/// How a case is called: with its context, to completion (or a panic).
pub type CaseFn = fn(Ctx) -> BoxFuture<'static, ()>;

/// One case of the suite.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The function name, e.g. `append_then_read_back`.
    pub name: &'static str,
    /// The module (RPC or topic), e.g. `append`.
    pub module: &'static str,
    /// The rule of `spec/semantics.md` the case checks.
    pub rule: &'static str,
    /// When the reference store is known to break this rule (a **(fix)**
    /// point of `semantics.md`): what it gets wrong.
    pub deviation: Option<&'static str>,
    /// Runs the case.
    pub run: CaseFn,
}

impl Case {
    /// `module::name`, the case's id in reports.
    pub fn id(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// Whether `pattern` selects this case: a glob (`*`, `?`) matched
    /// against the whole id or name when it has wildcards, else a
    /// substring of the id.
    pub fn matches(&self, pattern: &str) -> bool {
        let id = self.id();
        if pattern.contains(['*', '?']) {
            glob_match(pattern.as_bytes(), id.as_bytes())
                || glob_match(pattern.as_bytes(), self.name.as_bytes())
        } else {
            id.contains(pattern)
        }
    }
}

/// `*` matches any run of characters, `?` any one.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.split_first(), text.split_first()) {
        (None, _) => text.is_empty(),
        (Some((b'*', rest)), _) => {
            glob_match(rest, text) || (!text.is_empty() && glob_match(pattern, &text[1..]))
        }
        (Some((b'?', rest)), Some((_, text_rest))) => glob_match(rest, text_rest),
        (Some((p, rest)), Some((t, text_rest))) => p == t && glob_match(rest, text_rest),
        (Some(_), None) => false,
    }
}

/// The `deviation` of a registry entry (none or one).
#[doc(hidden)]
pub const fn deviation(given: &[&'static str]) -> Option<&'static str> {
    match given {
        [text] => Some(*text),
        _ => None,
    }
}

macro_rules! registry {
    ([] $($module:ident::$case:ident => $rule:literal $(, deviation = $deviation:literal)?;)*) => {
        /// Every case, in report order.
        static ALL: &[Case] = &[
            $(Case {
                name: stringify!($case),
                module: stringify!($module),
                rule: $rule,
                deviation: deviation(&[$($deviation),*]),
                run: |ctx| Box::pin($module::$case(ctx)),
            },)*
        ];
    };
}

for_each_case!(registry);

/// Every case of the suite, in report order.
pub fn all() -> &'static [Case] {
    ALL
}

/// The cases `pattern` selects (see [`Case::matches`]); all when `None`.
pub fn select(pattern: Option<&str>) -> Vec<&'static Case> {
    ALL.iter()
        .filter(|case| pattern.is_none_or(|p| case.matches(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<String> = all().iter().map(Case::id).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    #[test]
    fn patterns_select_by_substring_or_glob() {
        let ids = |p| -> Vec<String> { select(Some(p)).iter().map(|c| c.id()).collect() };
        assert_eq!(
            ids("append_then_read_back"),
            ["append::append_then_read_back"]
        );
        assert!(ids("idempotent").len() >= 3);
        assert!(
            ids("read_all::*")
                .iter()
                .all(|id| id.starts_with("read_all::"))
        );
        assert_eq!(ids("read_all::*").len(), 5);
        assert_eq!(ids("*_is_unauthenticated").len(), 4);
        // A glob may name the case without its module.
        assert_eq!(
            ids("append_then_read_bac?"),
            ["append::append_then_read_back"]
        );
        assert!(ids("no-such-case").is_empty());
        assert_eq!(select(None).len(), all().len());
    }
}
