"""The conformance kit: is the mock faithful to *your* store?

``eventstore-conformance`` (also ``python -m eventstore.testing.conformance``)
runs this project's conformance suite against any store that speaks the
``eventstore.v1`` API, and compares two stores answer by answer. It is the
same compiled code ``cargo test`` runs against our own stores; it needs
nothing but this wheel.

- ``check --endpoint HOST:PORT``: every case, each in fresh tenants of the
  store (named after ``--tenant-prefix`` and a run id; they stay in the
  store, which ``check`` says before it writes and counts after); one line
  per case, then ``N passed, M failed``. Exit status 0 only when none
  failed or was refused. Cases needing what a shared store cannot give
  (custom limits, a shutdown) are reported as skipped; cases the reference
  store is known to break (the *(fix)* points of the semantics) as known
  deviations, with the rule they check; cases the store refused the
  credentials for (``PERMISSION_DENIED``, ``UNAUTHENTICATED``) as refused,
  exit status 2, as they say nothing about its rules.
- ``diff --a HOST:PORT --b HOST:PORT [--ops N] [--seed S]``: the same random
  operations to both stores, every differing answer printed (store-assigned
  fields normalized), then ``N operations, M differences``. Exit status 0
  only when M is 0.
- ``--json``: the report as JSON, for CI.

The command line is the Rust one (``eventstore_conformance::cli``, the
same code as the ``eventstore-conformance`` binary of the Rust crate):
:func:`main` passes its argv there, so both commands have the same
options (the connection flags are the shared ones: ``--tls-ca``,
``--tls-cert``, ``--tls-key``, ``--tls-domain``, ``--username``,
``--password`` or ``EVENTSTORE_PASSWORD``, ``--token`` or
``EVENTSTORE_TOKEN``), messages and exit status. ``--help`` lists them.

From Python: :func:`check`, :func:`diff` and :func:`cases`, whose
connection keywords are :class:`~eventstore.EventStoreClient`'s
(``credentials=``, ``token=``, ``tls={"ca_certificate", "client_certificate",
"client_key", "server_name"}``). From pytest:
``pytest --eventstore-conformance=HOST:PORT`` runs every case as a test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

if TYPE_CHECKING:
    from eventstore._connect import Tls
    from eventstore._models import Credentials
    from eventstore._native import NativeConformanceOutcome

__all__ = [
    "CaseInfo",
    "CaseResult",
    "CheckReport",
    "ConformanceSession",
    "DiffReport",
    "cases",
    "check",
    "diff",
    "main",
]

CaseStatus = Literal["passed", "failed", "skipped", "known_deviation", "refused"]

DEFAULT_TENANT_PREFIX = "conformance-"
DEFAULT_DIFF_TENANT_PREFIX = "conformance-diff-"

PROGRAM = "eventstore-conformance"


@dataclass(frozen=True)
class CaseInfo:
    """One case of the suite."""

    id: str
    """``module::name``, e.g. ``append::append_then_read_back``."""
    rule: str
    """The rule of the store semantics it checks."""
    known_deviation: str | None
    """What the reference store is known to get wrong about the rule, if anything."""


@dataclass(frozen=True)
class CaseResult:
    """What became of one case."""

    case: str
    rule: str
    status: CaseStatus
    message: str | None
    """Why it failed, was skipped, deviates or was refused; ``None`` when it passed."""
    known_deviation: str | None
    seconds: float
    line: str
    """The case's report line."""


@dataclass(frozen=True)
class CheckReport:
    """Every case's result, and the closing line."""

    endpoint: str
    results: tuple[CaseResult, ...]
    summary: str
    """``N passed, M failed`` (then refused, skipped and known-deviation counts, if any)."""
    ok: bool
    """True when no case failed or was refused."""
    json: str
    """The report as JSON."""


@dataclass(frozen=True)
class DiffReport:
    """What a ``diff`` run found."""

    operations: int
    differences: tuple[str, ...]
    """Each differing answer: the step and request, then both answers."""
    summary: str
    """``N operations, M differences``."""
    ok: bool
    json: str


def cases(only: str | None = None) -> list[CaseInfo]:
    """The cases ``only`` selects: a substring of ``module::name``, or a glob
    with ``*`` and ``?``; every case when ``None``."""
    from eventstore import _native

    return [CaseInfo(id, rule, deviation) for id, rule, deviation in _native.conformance_cases(only)]


def _result(outcome: NativeConformanceOutcome) -> CaseResult:
    return CaseResult(
        case=outcome.case,
        rule=outcome.rule,
        status=cast(CaseStatus, outcome.status),
        message=outcome.message,
        known_deviation=outcome.known_deviation,
        seconds=outcome.seconds,
        line=outcome.line,
    )


class ConformanceSession:
    """A connection to one store, running cases one at a time (each in a
    fresh tenant starting with ``tenant_prefix`` and a run id).

    ``credentials``, ``token`` and ``tls`` are those of
    :class:`~eventstore.EventStoreClient` (the command's ``--username``,
    ``--token``, ``--tls-ca``...). Raises :class:`eventstore.ConnectionError`
    when the store cannot be reached or refuses the credentials,
    :class:`eventstore.ValidationError` for a malformed endpoint, TLS
    options with an ``http://`` endpoint or an unreadable TLS file.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        credentials: Credentials | None = None,
        token: str | None = None,
        tls: Tls | None = None,
        tenant_prefix: str = DEFAULT_TENANT_PREFIX,
    ) -> None:
        from eventstore import _native
        from eventstore._connect import connect_options

        self.endpoint = endpoint
        options = connect_options(endpoint, credentials=credentials, token=token, tls=tls)
        self._native = _native.NativeConformanceSession(options, tenant_prefix=tenant_prefix)
        self._outcomes: list[NativeConformanceOutcome] = []

    @property
    def tenant_prefix(self) -> str:
        """The prefix of every tenant this session's cases use."""
        return self._native.tenant_prefix

    def run(self, case: str) -> CaseResult:
        """Runs the case with id ``case`` (``module::name``)."""
        outcome = self._native.run(case)
        self._outcomes.append(outcome)
        return _result(outcome)

    def report(self) -> CheckReport:
        """The report of every case this session ran."""
        from eventstore import _native

        summary, ok, report_json = _native.conformance_report(self.endpoint, self._outcomes)
        results = tuple(_result(outcome) for outcome in self._outcomes)
        return CheckReport(self.endpoint, results, summary, ok, report_json)


def check(
    endpoint: str,
    *,
    credentials: Credentials | None = None,
    token: str | None = None,
    tls: Tls | None = None,
    tenant_prefix: str = DEFAULT_TENANT_PREFIX,
    only: str | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> CheckReport:
    """Runs every case (or those ``only`` selects) against the store at
    ``endpoint``, calling ``on_result`` after each. The connection keywords
    are :class:`ConformanceSession`'s."""
    selected = cases(only)
    if not selected:
        raise ValueError(f"only: {only!r} selects no conformance case")
    session = ConformanceSession(
        endpoint,
        credentials=credentials,
        token=token,
        tls=tls,
        tenant_prefix=tenant_prefix,
    )
    for case in selected:
        result = session.run(case.id)
        if on_result is not None:
            on_result(result)
    return session.report()


def diff(
    a: str,
    b: str,
    *,
    ops: int = 1000,
    seed: int = 0,
    tenant_prefix: str = DEFAULT_DIFF_TENANT_PREFIX,
) -> DiffReport:
    """Sends the same ``ops`` random operations (the sequence of ``seed``) to
    the stores at ``a`` and ``b`` and compares every answer."""
    from eventstore import _native

    if ops < 0:
        raise ValueError(f"ops: must be 0 or more, got {ops}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: must be between 0 and 2**64 - 1, got {seed}")
    report = _native.conformance_diff(a, b, ops=ops, seed=seed, tenant_prefix=tenant_prefix)
    return DiffReport(
        operations=report.operations,
        differences=tuple(report.differences),
        summary=report.summary,
        ok=report.success,
        json=report.json,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``eventstore-conformance`` command with ``argv`` (default: the
    command line): the Rust command line runs it. Returns its exit status
    (0: the store conforms, 1: a case failed or an answer differed, 2: the
    command could not run or the store refused the credentials a case
    needed, 130: interrupted)."""
    from eventstore import _native

    args = list(sys.argv[1:] if argv is None else argv)
    # The report and errors are printed by Rust: flush what Python holds first.
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return _native.conformance_main([PROGRAM, *args])
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
