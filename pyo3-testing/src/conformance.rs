//! The conformance kit (`eventstore-conformance`) from Python: the cases of
//! `eventstore_conformance` and their runner, compiled into the wheel, so
//! `python -m eventstore.testing.conformance` needs neither a Rust
//! toolchain nor grpcio. The command line is the Rust one
//! (`conformance_main` runs `eventstore_conformance::cli::main_from` with
//! Python's argv); `eventstore/testing/conformance.py` is the typed Python
//! API over the rest. The report lines and JSON come from the conformance
//! crate, the one place they are written.

use crate::{
    connect::NativeConnectOptions,
    errors::NativeError,
    runtime::{block_on, block_on_command},
};
use eventstore_conformance::{
    cases,
    diff::{DiffError, DiffReport, run_endpoints},
    endpoint::ConnectOptions,
    runner::{Outcome, Report, Session},
};
use pyo3::{exceptions::PyValueError, prelude::*};

/// `eventstore-conformance` with `argv` (`argv[0]` names the program):
/// the Rust command line itself, so the Python command has the same
/// options, messages and exit status. Ctrl-C raises `KeyboardInterrupt`.
#[pyfunction]
pub(crate) fn conformance_main(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    block_on_command(py, eventstore_conformance::cli::main_from(argv))
}

/// `(id, rule, known deviation)` of every case `only` selects (all when
/// `None`): a substring of `module::name`, or a glob with `*` and `?`.
#[pyfunction]
#[pyo3(signature = (only=None))]
pub(crate) fn conformance_cases(
    only: Option<&str>,
) -> Vec<(String, &'static str, Option<&'static str>)> {
    cases::select(only)
        .into_iter()
        .map(|case| (case.id(), case.rule, case.deviation))
        .collect()
}

/// What became of one case.
#[pyclass(frozen, module = "eventstore._native")]
pub(crate) struct NativeConformanceOutcome {
    outcome: Outcome,
}

#[pymethods]
impl NativeConformanceOutcome {
    /// `module::name`.
    #[getter]
    fn case(&self) -> String {
        self.outcome.case.id()
    }
    #[getter]
    fn rule(&self) -> &'static str {
        self.outcome.case.rule
    }
    /// `passed`, `failed`, `skipped`, `known_deviation` or `refused`.
    #[getter]
    fn status(&self) -> &'static str {
        self.outcome.status()
    }
    #[getter]
    fn message(&self) -> Option<String> {
        self.outcome.message().map(str::to_owned)
    }
    #[getter]
    fn known_deviation(&self) -> Option<&'static str> {
        self.outcome.case.deviation
    }
    #[getter]
    fn seconds(&self) -> f64 {
        self.outcome.duration.as_secs_f64()
    }
    /// The case's report line.
    #[getter]
    fn line(&self) -> String {
        self.outcome.line()
    }
}

/// A `check` run against one store.
#[pyclass(frozen, module = "eventstore._native")]
pub(crate) struct NativeConformanceSession {
    session: Session,
}

#[pymethods]
impl NativeConformanceSession {
    /// Connects to the store `options` name (and checks it answers).
    #[new]
    #[pyo3(signature = (options, *, tenant_prefix="conformance-".to_owned()))]
    fn new(
        py: Python<'_>,
        options: PyRef<'_, NativeConnectOptions>,
        tenant_prefix: String,
    ) -> PyResult<Self> {
        let options = options.options.clone();
        let session = block_on(py, async move {
            Session::connect(&options, &tenant_prefix)
                .await
                .map_err(NativeError::connect)
        })?;
        Ok(Self { session })
    }

    /// The tenant prefix of this run's cases.
    #[getter]
    fn tenant_prefix(&self) -> String {
        self.session.tenant_prefix().to_owned()
    }

    /// Runs the case with id `case` (`module::name`).
    fn run(&self, py: Python<'_>, case: &str) -> PyResult<NativeConformanceOutcome> {
        let Some(found) = cases::all().iter().find(|c| c.id() == case) else {
            return Err(PyValueError::new_err(format!(
                "case: no conformance case {case:?} (ids are module::name, see eventstore-conformance check --only)"
            )));
        };
        let session = self.session.clone();
        let outcome = block_on(py, async move { Ok(session.run(found).await) })?;
        Ok(NativeConformanceOutcome { outcome })
    }
}

/// `(summary line, success, JSON report)` of `outcomes`, run against `endpoint`.
#[pyfunction]
pub(crate) fn conformance_report(
    endpoint: &str,
    outcomes: Vec<Bound<'_, NativeConformanceOutcome>>,
) -> (String, bool, String) {
    let report = Report {
        outcomes: outcomes.iter().map(|o| o.get().outcome.clone()).collect(),
    };
    (
        report.summary(),
        report.success(),
        report.to_json(endpoint).to_string(),
    )
}

/// What a diff run found.
#[pyclass(frozen, module = "eventstore._native")]
pub(crate) struct NativeDiffReport {
    report: DiffReport,
    json: String,
}

#[pymethods]
impl NativeDiffReport {
    #[getter]
    fn operations(&self) -> usize {
        self.report.operations
    }
    /// Each difference as printed: the step and request, then both answers.
    #[getter]
    fn differences(&self) -> Vec<String> {
        self.report.differences.iter().map(|d| d.text()).collect()
    }
    /// `N operations, M differences`.
    #[getter]
    fn summary(&self) -> String {
        self.report.summary()
    }
    #[getter]
    fn success(&self) -> bool {
        self.report.success()
    }
    #[getter]
    fn json(&self) -> String {
        self.json.clone()
    }
}

/// Sends `ops` operations of `seed` to the stores at `a` and `b`.
#[pyfunction]
#[pyo3(signature = (a, b, *, ops, seed, tenant_prefix))]
pub(crate) fn conformance_diff(
    py: Python<'_>,
    a: String,
    b: String,
    ops: usize,
    seed: u64,
    tenant_prefix: String,
) -> PyResult<NativeDiffReport> {
    let side = |endpoint: &str| ConnectOptions {
        endpoint: endpoint.to_owned(),
        ..ConnectOptions::default()
    };
    let (options_a, options_b) = (side(&a), side(&b));
    let report = block_on(py, async move {
        run_endpoints(&options_a, &options_b, ops, seed, &tenant_prefix, |_| {})
            .await
            .map_err(|error| match error {
                DiffError::Connect { side, source } => {
                    let mut native = NativeError::connect(source);
                    native.message = format!("store {side}: {}", native.message);
                    native
                }
                probe @ DiffError::Probe { .. } => NativeError::connection(probe.to_string()),
            })
    })?;
    let json = report.to_json(&a, &b, seed).to_string();
    Ok(NativeDiffReport { report, json })
}
