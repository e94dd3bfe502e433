//! The conformance suite under `cargo test`: every case of
//! `eventstore_conformance::cases` (the registry `for_each_case!`), one test
//! per case per target, each against fresh stores of that target. The
//! `eventstore-conformance check` command runs the very same cases against
//! a user's store.

use eventstore_conformance::for_each_case;
use eventstore_conformance::targets::Container;
use eventstore_conformance::targets::DurableServer;
use eventstore_conformance::targets::{
    InProcess, MockDirect, MockGrpc, MockInProcess, ServerProcess,
};

/// One `#[tokio::test]` per case for `$target`.
macro_rules! suite {
    ([$target:ty] $($module:ident::$case:ident => $rule:literal $(, deviation = $deviation:literal)?;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                eventstore_conformance::runner::run_fresh::<$target, _, _>(
                    eventstore_conformance::cases::$module::$case,
                )
                .await;
            }
        )*
    };
}

mod in_process {
    use super::*;
    for_each_case!(suite, InProcess);
}

mod server_process {
    use super::*;
    for_each_case!(suite, ServerProcess);
}

mod durable_server {
    use super::*;
    for_each_case!(suite, DurableServer);
}

mod mock_grpc {
    use super::*;
    for_each_case!(suite, MockGrpc);
}

mod mock_in_process {
    use super::*;
    for_each_case!(suite, MockInProcess);
}

mod mock_direct {
    use super::*;
    for_each_case!(suite, MockDirect);
}

mod container {
    use super::*;
    for_each_case!(suite, Container);
}
