//! Running cases and reporting: `eventstore-conformance check`.
//!
//! Each case runs in its own tokio task; a failed assertion is a panic,
//! which ends that task only, and its message (with where it was raised)
//! becomes the case's verdict. [`run_fresh`] is the `cargo test` side: a
//! fresh store per start, failures propagated as test failures.
//!
//! A refusal is not a broken rule: a case whose store refused the kit's
//! credentials (`PERMISSION_DENIED` or `UNAUTHENTICATED`), at the append
//! that starts it ([`Refused`]) or at any call before it failed (noted in
//! the case's [`Refusals`]), is [`Verdict::Refused`], not failed. The
//! exit status of `check` ([`Report::exit_status`]): 1 when a case
//! failed, else 2 when one was refused (nothing was learnt about those
//! rules), else 0.

use crate::{
    Ctx, Refused, Skip, Target,
    cases::Case,
    endpoint::{ConnectError, ConnectOptions, SharedEndpoint, connect},
    shared::Writes,
};
use serde_json::json;
use std::{
    any::Any,
    future::Future,
    sync::{Arc, Mutex, Once},
    time::{Duration, Instant},
};
use tonic::{Code, Status};

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
    /// The store refused the kit's credentials (`PERMISSION_DENIED`,
    /// `UNAUTHENTICATED`), so the case says nothing about its rules: the
    /// refusal, and the failure it led to.
    Refused(String),
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
    /// `passed`, `failed`, `skipped`, `known_deviation` or `refused`.
    pub fn status(&self) -> &'static str {
        match self.verdict {
            Verdict::Passed => "passed",
            Verdict::Failed(_) => "failed",
            Verdict::Skipped(_) => "skipped",
            Verdict::KnownDeviation(_) => "known_deviation",
            Verdict::Refused(_) => "refused",
        }
    }

    /// Why it failed, was skipped, deviates or was refused; `None` when it
    /// passed.
    pub fn message(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Passed => None,
            Verdict::Failed(m)
            | Verdict::Skipped(m)
            | Verdict::KnownDeviation(m)
            | Verdict::Refused(m) => Some(m),
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
            Verdict::Refused(m) => format!("REFUSED   {id}: {}", one_line(m)),
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

    /// `N passed, M failed`, then the refused, skipped and deviating
    /// counts when any.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} passed, {} failed",
            self.count("passed"),
            self.count("failed")
        );
        let refused = self.count("refused");
        if refused > 0 {
            line.push_str(&format!(", {refused} refused"));
        }
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

    /// What the refused cases mean, when there are any: one line saying
    /// that the credentials were refused and what to do (`tenant_prefix`:
    /// what every tenant of the run starts with, `--tenant-prefix`).
    pub fn refused_note(&self, tenant_prefix: &str) -> Option<String> {
        let refused = self.count("refused");
        (refused > 0).then(|| {
            format!(
                "{refused} {} refused: the store refused the credentials (PERMISSION_DENIED or \
                 UNAUTHENTICATED), which says nothing about its rules; give credentials that may \
                 use every tenant starting with {tenant_prefix:?} (or choose the names with \
                 --tenant-prefix)",
                if refused == 1 {
                    "case was"
                } else {
                    "cases were"
                }
            )
        })
    }

    /// True when no case failed or was refused (skips and known deviations
    /// aside).
    pub fn success(&self) -> bool {
        self.count("failed") == 0 && self.count("refused") == 0
    }

    /// `check`'s exit status: 1 when a case failed, else 2 when one was
    /// refused, else 0.
    pub fn exit_status(&self) -> i32 {
        if self.count("failed") > 0 {
            1
        } else if self.count("refused") > 0 {
            2
        } else {
            0
        }
    }

    /// The report for CI: counts and every case.
    pub fn to_json(&self, endpoint: &str) -> serde_json::Value {
        json!({
            "endpoint": endpoint,
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "refused": self.count("refused"),
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
    /// Set while a case runs under [`run_case`]: the calls refused for the
    /// credentials.
    static REFUSALS: Refusals;
}

/// Whether `status` refuses the caller's credentials: `PERMISSION_DENIED`
/// or `UNAUTHENTICATED`.
pub fn is_refusal(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::PermissionDenied | Code::Unauthenticated
    )
}

/// The first call of one case that a store refused for the credentials
/// (see [`is_refusal`]): a case that then fails is [`Verdict::Refused`].
/// Clones share the log, so a store made in the case's task notes its
/// refusals there from any task ([`crate::shared::SharedView`]).
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<Mutex<Option<String>>>);

impl Refusals {
    /// The log of the case running in this task under [`run_case`], if any.
    pub fn current() -> Option<Self> {
        REFUSALS.try_with(Clone::clone).ok()
    }

    /// Notes a refused call (`what`: the call and the store's answer); the
    /// first one is kept.
    pub fn note(&self, what: String) {
        if let Ok(mut first) = self.0.lock()
            && first.is_none()
        {
            *first = Some(what);
        }
    }

    /// The first refused call, if any.
    pub fn first(&self) -> Option<String> {
        self.0.lock().ok().and_then(|first| first.clone())
    }
}

/// What a `check` run wrote to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Events of successful appends.
    pub events: u64,
    /// Distinct tenants they went to.
    pub tenants: usize,
    /// What every one of those tenants starts with (`--tenant-prefix`,
    /// then the run id).
    pub tenant_prefix: String,
}

impl Written {
    /// `wrote E events in T tenants starting with <run>`.
    pub fn line(&self) -> String {
        format!(
            "wrote {} {} in {} {} starting with {}",
            self.events,
            if self.events == 1 { "event" } else { "events" },
            self.tenants,
            if self.tenants == 1 {
                "tenant"
            } else {
                "tenants"
            },
            self.tenant_prefix
        )
    }

    /// The JSON report's `written`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "events": self.events,
            "tenants": self.tenants,
            "tenant_prefix": self.tenant_prefix,
        })
    }
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
    let refusals = Refusals::default();
    let task = tokio::spawn(PANIC_AT.scope(
        at.clone(),
        REFUSALS.scope(refusals.clone(), (case.run)(ctx)),
    ));
    let abort = task.abort_handle();
    // A case that failed after the store refused the credentials says
    // nothing about the rule: refused. A case with a known deviation of
    // the reference store is expected to fail there: its failure is
    // reported as that deviation.
    let failed = |message: String| {
        if let Some(refusal) = refusals.first() {
            Verdict::Refused(format!(
                "the store refused the credentials ({refusal}); then the case failed: {message}"
            ))
        } else if case.deviation.is_some() {
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
            } else if let Some(Refused(why)) = payload.downcast_ref::<Refused>() {
                Verdict::Refused(why.clone())
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
    /// As given (`--tenant-prefix`).
    tenant_prefix: String,
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
            tenant_prefix: tenant_prefix.to_owned(),
            shared: SharedEndpoint::new(store, tenant_prefix),
        })
    }

    /// The endpoint as given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The tenant prefix of this run's cases (the one given, then the run
    /// id).
    pub fn tenant_prefix(&self) -> &str {
        self.shared.run()
    }

    /// What running `cases` will write, said before running them: which
    /// tenants, that they stay, and how to choose their names.
    pub fn plan(&self, cases: usize) -> String {
        let run = self.shared.run();
        format!(
            "checking {}: {cases} {} test events to new tenants named {run}-probe and \
             {run}-<n>-<name> (--tenant-prefix {:?}, then a run id); they stay in the store: \
             point check at a store you can discard, or choose the names with --tenant-prefix",
            self.endpoint,
            if cases == 1 {
                "case appends"
            } else {
                "cases append"
            },
            self.tenant_prefix
        )
    }

    /// What the cases run so far wrote.
    pub fn written(&self) -> Written {
        let writes: &Writes = self.shared.writes();
        Written {
            events: writes.events(),
            tenants: writes.tenants(),
            tenant_prefix: self.shared.run().to_owned(),
        }
    }

    /// What the refused cases of `report` mean, if any (see
    /// [`Report::refused_note`]).
    pub fn refused_note(&self, report: &Report) -> Option<String> {
        report.refused_note(&self.tenant_prefix)
    }

    /// `report` as JSON, with what the run wrote (`written`).
    pub fn report_json(&self, report: &Report) -> serde_json::Value {
        let mut json = report.to_json(&self.endpoint);
        json["written"] = self.written().to_json();
        json
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
    use crate::shared::SharedView;
    use crate::targets::InProcess;
    use crate::{Store, Target};
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

    /// A case ended by a [`Refused`] payload (a refused probe append), and
    /// a case that failed after the store refused a call for the
    /// credentials, are refused, not failed; a refusal the case expected
    /// (it passed) changes nothing.
    #[tokio::test]
    async fn a_refusal_is_not_a_broken_rule() {
        let probe = fake(
            |_| {
                async { std::panic::panic_any(Refused("the probe append was refused".into())) }
                    .boxed()
            },
            None,
        );
        let outcome = run_case(probe, Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        assert_eq!(
            outcome.verdict,
            Verdict::Refused("the probe append was refused".into())
        );
        assert_eq!(outcome.status(), "refused");
        assert_eq!(
            outcome.line(),
            "REFUSED   test::fake: the probe append was refused"
        );

        // PERMISSION_DENIED (an event of another tenant than its request's,
        // as a tenant-bound user gets for every tenant not its own).
        async fn denied_then(fail: bool) {
            let store = InProcess::start(eventstore_engine::Limits::default()).await;
            let view = SharedView::new(store, "run-1-", 0);
            let mut mismatch = crate::append("t1", "s", 0, 1);
            if let Some(meta) = mismatch.events[0].meta.as_mut() {
                meta.tenant_id = "t2".into();
            }
            // In another task, as cases that append concurrently do.
            let status = tokio::spawn(async move { view.append(mismatch).await })
                .await
                .expect("join")
                .expect_err("denied");
            assert_eq!(status.code(), Code::PermissionDenied);
            assert!(!fail, "the store broke a rule");
        }
        let refused = fake(|_| denied_then(true).boxed(), Some("a deviation"));
        let outcome = run_case(refused, Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        assert_eq!(outcome.status(), "refused", "{outcome:?}");
        let message = outcome.message().expect("a message");
        assert!(
            message.starts_with(
                "the store refused the credentials (Append to tenant \"run-1-t1\" got PERMISSION_DENIED: "
            ),
            "{message}"
        );
        assert!(
            message.contains("; then the case failed: the store broke a rule"),
            "{message}"
        );
        let expected = fake(|_| denied_then(false).boxed(), None);
        let outcome = run_case(expected, Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        assert_eq!(outcome.verdict, Verdict::Passed);
    }

    #[test]
    fn refused_cases_are_counted_explained_and_exit_2() {
        let case = fake(|_| async {}.boxed(), None);
        let outcome = |verdict: Verdict| Outcome {
            case,
            verdict,
            duration: Duration::ZERO,
        };
        let mut report = Report {
            outcomes: vec![
                outcome(Verdict::Passed),
                outcome(Verdict::Refused("denied".into())),
                outcome(Verdict::Refused("denied".into())),
                outcome(Verdict::Skipped("a unicorn".into())),
            ],
        };
        assert_eq!(report.summary(), "1 passed, 0 failed, 2 refused, 1 skipped");
        assert!(!report.success());
        assert_eq!(report.exit_status(), 2);
        let note = report.refused_note("conformance-").expect("a note");
        assert!(
            note.starts_with(
                "2 cases were refused: the store refused the credentials (PERMISSION_DENIED or UNAUTHENTICATED), which says nothing about its rules; "
            ),
            "{note}"
        );
        assert!(
            note.contains("tenant starting with \"conformance-\"")
                && note.contains("--tenant-prefix"),
            "{note}"
        );
        let json = report.to_json("x:1");
        assert_eq!(
            (json["refused"].clone(), json["passed"].clone()),
            (2.into(), 1.into())
        );
        assert_eq!(json["cases"][1]["status"], "refused");

        // A failure outranks a refusal: exit status 1.
        report
            .outcomes
            .push(outcome(Verdict::Failed("broke".into())));
        assert_eq!(report.exit_status(), 1);
        report.outcomes.retain(|o| o.status() != "refused");
        assert_eq!(report.refused_note("conformance-"), None);
        assert_eq!(report.summary(), "1 passed, 1 failed, 1 skipped");
        report.outcomes.retain(|o| o.status() != "failed");
        assert_eq!(report.exit_status(), 0);
        assert!(report.success());
    }

    #[test]
    fn what_was_written_is_said_in_one_line() {
        let written = Written {
            events: 12,
            tenants: 1,
            tenant_prefix: "conformance-0a1b2c3d".into(),
        };
        assert_eq!(
            written.line(),
            "wrote 12 events in 1 tenant starting with conformance-0a1b2c3d"
        );
        assert_eq!(
            written.to_json(),
            json!({"events": 12, "tenants": 1, "tenant_prefix": "conformance-0a1b2c3d"})
        );
    }

    #[tokio::test]
    async fn a_real_case_passes_against_the_engine() {
        let outcome = run_case(&all()[0], Ctx::fresh::<InProcess>(), CASE_TIMEOUT).await;
        assert_eq!(outcome.verdict, Verdict::Passed);
    }
}
