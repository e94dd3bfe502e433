//! The conformance suite: every rule of `spec/semantics.md`, run against
//! every target. Each case is a generic `async fn case<T: Target>()` in one
//! of the modules below; `all_cases!` instantiates every case for a target.

mod append;
mod concurrency;
mod marker;
mod paging;
mod read;
mod read_all;
mod server_info;
mod subscribe;
mod support;

use eventstore_conformance::targets::Container;
use eventstore_conformance::targets::DurableServer;
use eventstore_conformance::targets::{InProcess, MockGrpc, MockInProcess, ServerProcess};

/// One `#[tokio::test]` per case for `$target`.
macro_rules! suite {
    ($target:ty; $($module:ident::$case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                crate::$module::$case::<$target>().await;
            }
        )*
    };
}

/// Every case of the suite, for one target.
macro_rules! all_cases {
    ($target:ty) => {
        suite!($target;
            append::append_then_read_back,
            append::empty_tenant_is_unauthenticated,
            append::empty_request_fields_are_invalid,
            append::invalid_event_is_invalid_argument_naming_its_index,
            append::event_stream_fields_are_filled_from_the_request,
            append::event_stream_field_mismatch_is_rejected,
            append::empty_content_type_becomes_octet_stream,
            append::store_fields_sent_by_the_client_are_overwritten,
            append::every_client_field_round_trips,
            append::checks_run_in_the_specified_order,
            append::limits_are_checked_after_the_other_checks,
            append::idempotent_retry_returns_the_original_response_and_writes_nothing,
            append::idempotent_retry_after_the_stream_moved_on_returns_the_original_response,
            append::idempotency_compares_the_normalized_batch,
            append::idempotency_key_reused_for_a_different_batch_is_already_exists,
            append::idempotency_keys_are_per_stream,
            append::expected_zero_on_an_existing_stream_is_aborted,
            append::expected_other_than_the_head_is_aborted,
            append::event_nonces_must_continue_the_head,
            append::event_id_used_in_the_tenant_is_already_exists,
            append::event_id_twice_in_a_batch_is_already_exists,
            append::event_ids_are_unique_per_tenant_only,
            append::a_failed_batch_writes_nothing,
            append::response_reports_the_new_head_and_the_last_global_nonce,
            append::global_nonces_are_gap_free_across_streams_and_tenants,
            append::recorded_time_is_set_at_commit_and_never_decreases,
            append::too_many_events_is_invalid,
            append::ids_longer_than_the_limit_are_invalid,
            append::too_large_request_is_resource_exhausted_and_the_store_survives,
            read::read_without_tenant_is_unauthenticated,
            read::read_without_aggregate_id_is_invalid,
            read::read_ids_longer_than_the_limit_are_invalid,
            read::missing_stream_reads_empty_with_is_end,
            read::max_count_zero_reads_to_the_end_and_large_is_not_capped,
            read::forward_reads_start_at_from,
            read::backward_reads_descend_from_from,
            read::backward_from_zero_is_an_empty_final_page,
            read::backward_from_beyond_the_head_starts_at_the_head,
            read::is_end_is_true_exactly_when_nothing_follows,
            read::paging_visits_every_event_once_in_both_directions,
            read::streams_are_isolated_by_tenant,
            read::page_stops_early_under_the_response_size_limit,
            subscribe::subscribe_without_tenant_is_unauthenticated,
            subscribe::subscribe_prefix_longer_than_the_limit_is_invalid,
            subscribe::history_then_live_in_global_order,
            subscribe::from_global_nonce_selects_the_first_event,
            subscribe::prefix_filters_aggregate_ids,
            subscribe::tenants_are_isolated,
            subscribe::history_live_boundary_under_concurrent_appends,
            subscribe::slow_consumer_misses_nothing,
            subscribe::subscription_stays_open_while_idle,
            paging::paging_from_every_start_takes_the_minimal_calls,
            paging::tail_polling_sees_each_new_event_once,
            read_all::read_all_without_tenant_is_unauthenticated,
            read_all::read_all_is_the_tenants_log_in_global_order,
            read_all::read_all_max_count_zero_is_100_and_large_is_capped,
            read_all::read_all_page_stops_early_under_the_response_size_limit,
            marker::marker_once_after_an_empty_history,
            marker::marker_once_after_the_history_before_live_events,
            marker::shutdown_ends_subscriptions_with_resume_from,
            server_info::server_info_names_version_backend_and_capabilities,
            server_info::default_limits_accept_a_1001_event_batch,
            concurrency::racing_appenders_get_exactly_one_winner_per_nonce,
            concurrency::concurrent_appends_to_many_streams_all_succeed,
            concurrency::concurrent_idempotent_retries_write_once,
            concurrency::concurrent_duplicate_event_ids_have_one_winner,
        );
    };
}

mod in_process {
    use super::*;
    all_cases!(InProcess);
}

mod server_process {
    use super::*;
    all_cases!(ServerProcess);
}

mod durable_server {
    use super::*;
    all_cases!(DurableServer);
}

mod mock_grpc {
    use super::*;
    all_cases!(MockGrpc);
}

mod mock_in_process {
    use super::*;
    all_cases!(MockInProcess);
}

mod container {
    use super::*;
    all_cases!(Container);
}
