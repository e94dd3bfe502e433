//! The conformance suite: every rule of `spec/semantics.md`, run against
//! every target. Each case is a generic `async fn case<T: Target>()` in one
//! of the modules below; `all_cases!` instantiates every case for a target.

mod append;

use eventstore_conformance::targets::{InProcess, ServerProcess};

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
