//! Running cases and reporting: `eventstore-conformance check`.
//!
//! Each case runs in its own tokio task; a failed assertion is a panic,
//! which ends that task only, and its message (with where it was raised)
//! becomes the case's verdict. [`run_fresh`] is the `cargo test` side: a
//! fresh store per start, failures propagated as test failures.

use crate::{
    Ctx, Skip, Target,
    cases::Case,
    endpoint::{ConnectError, ConnectOptions, SharedEndpoint, connect},
};
use serde_json::json;
use std::{
    any::Any,
    future::Future,
    sync::{Arc, Mutex, Once},
    time::{Duration, Instant},
};

/// How long one case may take before it is failed (cases bound their own
/// waits well below this; this catches a store that never answers).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// What became of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The store follows the rule.
    Passed,
    /// The store breaks the rule: why.
    Failed(String),
    /// The case could not run against this store: what it needs.
    Skipped(String),
    /// The store breaks a rule the reference is known to break (a
    /// **(fix)** point of `semantics.md`): why it failed.
    KnownDeviation(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The case.
    pub case: &'static Case,
    /// What became of it.
    pub verdict: Verdict,
    /// How long it ran.
    pub duration: Duration,
}

impl Outcome {
    /// `passed`, `failed`, `skipped` or `known_deviation`.
    pub fn status(&self) -> &'static str {
        match self.verdict {
            Verdict::Passed => "passed",
            Verdict::Failed(_) => "failed",
            Verdict::Skipped(_) => "skipped",
            Verdict::KnownDeviation(_) => "known_deviation",
        }
    }

    /// Why it failed, was skipped or deviates; `None` when it passed.
    pub fn message(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Passed => None,
            Verdict::Failed(m) | Verdict::Skipped(m) | Verdict::KnownDeviation(m) => Some(m),
        }
    }

    /// The case's report line (one line: newlines in messages become `; `).
    pub fn line(&self) -> String {
        let id = self.case.id();
        let one_line = |m: &str| {
            m.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        };
        match &self.verdict {
            Verdict::Passed => format!("passed    {id}"),
            Verdict::Failed(m) => {
                format!("FAILED    {id} [{}]: {}", self.case.rule, one_line(m))
            }
            Verdict::Skipped(m) => format!("skipped   {id}: {}", one_line(m)),
            Verdict::KnownDeviation(m) => format!(
                "deviation {id} [{}]: known reference deviation ({}): {}",
                self.case.rule,
                self.case.deviation.unwrap_or_default(),
                one_line(m)
            ),
        }
    }

    /// The case's entry in the JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "case": self.case.id(),
            "rule": self.case.rule,
            "status": self.status(),
            "message": self.message(),
            "known_deviation": self.case.deviation,
            "seconds": self.duration.as_secs_f64(),
        })
    }
}

/// Every outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// In run order.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    fn count(&self, status: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.status() == status)
            .count()
    }

    /// `N passed, M failed`, then the skipped and deviating counts when any.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} passed, {} failed",
            self.count("passed"),
            self.count("failed")
        );
        let skipped = self.count("skipped");
        if skipped > 0 {
            line.push_str(&format!(", {skipped} skipped"));
        }
        let deviations = self.count("known_deviation");
        if deviations > 0 {
            line.push_str(&format!(", {deviations} known reference deviations"));
        }
        line
    }

    /// True when no case failed (skips and known deviations aside).
    pub fn success(&self) -> bool {
        self.count("failed") == 0
    }

    /// The report for CI: counts and every case.
    pub fn to_json(&self, endpoint: &str) -> serde_json::Value {
        json!({
            "endpoint": endpoint,
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "known_deviations": self.count("known_deviation"),
            "summary": self.summary(),
            "cases": self.outcomes.iter().map(Outcome::to_json).collect::<Vec<_>>(),
        })
    }
}

tokio::task_local! {
    /// Set while a case runs under [`run_case`]: where its panic was raised.
    static PANIC_AT: Arc<Mutex<Option<String>>>;
}

/// Installs (once) a panic hook that, inside a case run by [`run_case`],
/// records where the panic was raised instead of printing it (the report
/// says it); everywhere else the previous hook runs as before.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location().map(ToString::to_string);
            let recorded = PANIC_AT.try_with(|slot| {
                if let Ok(mut slot) = slot.lock() {
                    *slot = location.clone();
                }
            });
            if recorded.is_err() {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "the case panicked without a message".to_owned()
    }
}

/// Runs `case` with `ctx` in its own task, within `timeout`.
pub async fn run_case(case: &'static Case, ctx: Ctx, timeout: Duration) -> Outcome {
    install_panic_hook();
    let started = Instant::now();
    let at = Arc::new(Mutex::new(None));
    let task = tokio::spawn(PANIC_AT.scope(at.clone(), (case.run)(ctx)));
    let abort = task.abort_handle();
    // A case with a known deviation of the reference store is expected to
    // fail there: its failure is reported as that deviation.
    let failed = |message: String| {
        if case.deviation.is_some() {
            Verdict::KnownDeviation(message)
        } else {
            Verdict::Failed(message)
        }
    };
    let verdict = match tokio::time::timeout(timeout, task).await {
        Ok(Ok(())) => Verdict::Passed,
        Ok(Err(error)) if error.is_panic() => {
            let payload = error.into_panic();
            if let Some(Skip(needs)) = payload.downcast_ref::<Skip>() {
                Verdict::Skipped(needs.clone())
            } else {
                let mut message = panic_message(payload.as_ref());
                if let Some(location) = at.lock().ok().and_then(|at| at.clone()) {
                    message.push_str(&format!(" (at {location})"));
                }
                failed(message)
            }
        }
        Ok(Err(error)) => Verdict::Failed(format!("the case was cancelled: {error}")),
        Err(_) => {
            abort.abort();
            failed(format!("did not finish within {} s", timeout.as_secs()))
        }
    };
    Outcome {
        case,
        verdict,
        duration: started.elapsed(),
    }
}

/// Runs one case against fresh stores of target `T`, as `cargo test` does:
/// a failure panics the test; a skip (a target that cannot be stopped)
/// is printed and passes.
pub async fn run_fresh<T: Target, F, Fut>(case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match tokio::spawn(case(Ctx::fresh::<T>())).await {
        Ok(()) => {}
        Err(error) if error.is_panic() => {
            let payload = error.into_panic();
            match payload.downcast_ref::<Skip>() {
                Some(Skip(needs)) => eprintln!("case skipped: {needs}"),
                None => std::panic::resume_unwind(payload),
            }
        }
        Err(error) => panic!("the case was cancelled: {error}"),
    }
}

/// A `check` run against one store: its connection and its run's tenants.
#[derive(Debug, Clone)]
pub struct Session {
    endpoint: String,
    shared: SharedEndpoint,
}

impl Session {
    /// Connects to the store; each case will use tenants starting with
    /// `tenant_prefix`.
    pub async fn connect(
        options: &ConnectOptions,
        tenant_prefix: &str,
    ) -> Result<Self, ConnectError> {
        let store = connect(options).await?;
        Ok(Self {
            endpoint: options.endpoint.clone(),
            shared: SharedEndpoint::new(store, tenant_prefix),
        })
    }

    /// The endpoint as given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The tenant prefix of this run's cases.
    pub fn tenant_prefix(&self) -> &str {
        self.shared.run()
    }

    /// Runs one case (cases on a shared store run one at a time: global
    /// nonces are checked relative to the store's state at the start).
    pub async fn run(&self, case: &'static Case) -> Outcome {
        run_case(case, Ctx::new(self.shared.clone()), CASE_TIMEOUT).await
    }

    /// Runs `cases` in order, calling `each` after every one.
    pub async fn run_all(&self, cases: &[&'static Case], mut each: impl FnMut(&Outcome)) -> Report {
        let mut report = Report::default();
        for case in cases {
            let outcome = self.run(case).await;
            each(&outcome);
            report.outcomes.push(outcome);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{Case, all};
    use crate::targets::InProcess;
    use futures::FutureExt;

    fn fake(run: crate::cases::CaseFn, deviation: Option<&'static str>) -> &'static Case {
        Box::leak(Box::new(Case {
            name: "fake",
            module: "test",
            rule: "a rule",
            deviation,
            run,
        }))
    }

    #[tokio::test]
    async fn a_failing_case_reports_its_message_and_location() {
        let case = fake(
            |_| async { assert_eq!(1, 2, "one is not two") }.boxed(),
            None,
        );
        let outcome = run_case(case, Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        let message = outcome.message().expect("a message");
        assert_eq!(outcome.status(), "failed");
        assert!(message.contains("one is not two"), "{message}");
        assert!(message.contains("runner.rs"), "{message}");
        assert!(
            outcome
                .line()
                .starts_with("FAILED    test::fake [a rule]: ")
        );
        assert!(!outcome.line().contains('\n'));
    }

    #[tokio::test]
    async fn skips_deviations_and_timeouts_are_told_apart() {
        let skip = fake(
            |ctx| async move { ctx.skip("needs a unicorn") }.boxed(),
            None,
        );
        let outcome = run_case(skip, Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        assert_eq!(outcome.verdict, Verdict::Skipped("needs a unicorn".into()));
        let deviation = fake(|_| async { panic!("lost an event") }.boxed(), Some("drops"));
        let outcome = run_case(deviation, Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        assert_eq!(outcome.status(), "known_deviation");
        assert!(outcome.line().contains("known reference deviation (drops)"));
        let hang = fake(|_| futures::future::pending::<()>().boxed(), None);
        let outcome = run_case(hang, Ctx::fresh::<InProcess>(), Duration::from_millis(50)).await;
        assert_eq!(outcome.status(), "failed");
        let report = Report {
            outcomes: vec![outcome],
        };
        assert_eq!(report.summary(), "0 passed, 1 failed");
        assert!(!report.success());
    }

    #[tokio::test]
    async fn a_real_case_passes_against_the_engine() {
        let outcome = run_case(&all()[0], Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        assert_eq!(outcome.verdict, Verdict::Passed);
    }
}
