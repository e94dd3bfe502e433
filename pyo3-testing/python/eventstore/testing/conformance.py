"""The conformance kit: is the mock faithful to *your* store?

``eventstore-conformance`` (also ``python -m eventstore.testing.conformance``)
runs this project's conformance suite against any store that speaks the
``eventstore.v1`` API, and compares two stores answer by answer. It is the
same compiled code ``cargo test`` runs against our own stores; it needs
nothing but this wheel.

- ``check --endpoint HOST:PORT``: every case, each in a fresh tenant of the
  store; one line per case, then ``N passed, M failed``. Exit status 0 only
  when none failed. Cases needing what a shared store cannot give (custom
  limits, a shutdown) are reported as skipped; cases the reference store is
  known to break (the *(fix)* points of the semantics) as known deviations,
  with the rule they check.
- ``diff --a HOST:PORT --b HOST:PORT [--ops N] [--seed S]``: the same random
  operations to both stores, every differing answer printed (store-assigned
  fields normalized), then ``N operations, M differences``. Exit status 0
  only when M is 0.
- ``--json``: the report as JSON, for CI.

From Python: :func:`check`, :func:`diff` and :func:`cases`. From pytest:
``pytest --eventstore-conformance=HOST:PORT`` runs every case as a test.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from eventstore._errors import EventStoreError

if TYPE_CHECKING:
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

CaseStatus = Literal["passed", "failed", "skipped", "known_deviation"]

DEFAULT_TENANT_PREFIX = "conformance-"
DEFAULT_DIFF_TENANT_PREFIX = "conformance-diff-"


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
    """Why it failed, was skipped or deviates; ``None`` when it passed."""
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
    """``N passed, M failed`` (then skipped and known-deviation counts, if any)."""
    ok: bool
    """True when no case failed."""
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


def _path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


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

    Raises :class:`eventstore.ConnectionError` when the store cannot be
    reached or refuses the credentials, :class:`eventstore.ValidationError`
    for a malformed endpoint or an unreadable TLS file.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        username: str | None = None,
        password: str | None = None,
        tenant_prefix: str = DEFAULT_TENANT_PREFIX,
    ) -> None:
        from eventstore import _native

        self.endpoint = endpoint
        self._native = _native.NativeConformanceSession(
            endpoint,
            tls_ca=_path(tls_ca),
            tls_cert=_path(tls_cert),
            tls_key=_path(tls_key),
            username=username,
            password=password,
            tenant_prefix=tenant_prefix,
        )
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
    tls_ca: str | os.PathLike[str] | None = None,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    username: str | None = None,
    password: str | None = None,
    tenant_prefix: str = DEFAULT_TENANT_PREFIX,
    only: str | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> CheckReport:
    """Runs every case (or those ``only`` selects) against the store at
    ``endpoint``, calling ``on_result`` after each."""
    selected = cases(only)
    if not selected:
        raise ValueError(f"only: {only!r} selects no conformance case")
    session = ConformanceSession(
        endpoint,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        username=username,
        password=password,
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventstore-conformance",
        description="Checks that an event store behaves as the eventstore.v1 semantics say.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    check_cmd = commands.add_parser("check", help="run every conformance case against the store at --endpoint")
    check_cmd.add_argument("--endpoint", required=True, help="the store: HOST:PORT, or http(s)://HOST:PORT")
    check_cmd.add_argument("--tls-ca", metavar="FILE", help="PEM CA certificate of the store's TLS certificate")
    check_cmd.add_argument("--tls-cert", metavar="FILE", help="PEM client certificate, for mutual TLS (with --tls-key)")
    check_cmd.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    check_cmd.add_argument("--username", help="basic-auth username (with --password)")
    check_cmd.add_argument("--password", help="basic-auth password")
    check_cmd.add_argument(
        "--tenant-prefix",
        default=DEFAULT_TENANT_PREFIX,
        help="every tenant the cases use starts with this, then a run id (default %(default)s)",
    )
    check_cmd.add_argument(
        "--only", metavar="PATTERN", help="only the cases whose id contains PATTERN, or matches it as a glob"
    )
    check_cmd.add_argument("--json", action="store_true", help="print the report as JSON")

    diff_cmd = commands.add_parser("diff", help="send the same random operations to two stores and compare")
    diff_cmd.add_argument("--a", required=True, metavar="HOST:PORT", help="store A")
    diff_cmd.add_argument("--b", required=True, metavar="HOST:PORT", help="store B")
    diff_cmd.add_argument("--ops", type=int, default=1000, help="how many operations (default %(default)s)")
    diff_cmd.add_argument("--seed", type=int, default=0, help="seed of the operation sequence (default %(default)s)")
    diff_cmd.add_argument(
        "--tenant-prefix",
        default=DEFAULT_DIFF_TENANT_PREFIX,
        help="every tenant the operations use starts with this, then a run id (default %(default)s)",
    )
    diff_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _print(line: str) -> None:
    print(line, flush=True)


def _main_check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if (args.username is None) != (args.password is None):
        parser.error("--username and --password go together")
    as_json: bool = args.json
    report = check(
        args.endpoint,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        username=args.username,
        password=args.password,
        tenant_prefix=args.tenant_prefix,
        only=args.only,
        on_result=None if as_json else lambda result: _print(result.line),
    )
    _print(report.json if as_json else report.summary)
    return 0 if report.ok else 1


def _main_diff(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.ops < 0:
        parser.error(f"--ops: must be 0 or more, got {args.ops}")
    if not 0 <= args.seed < 2**64:
        parser.error(f"--seed: must be between 0 and 2**64 - 1, got {args.seed}")
    report = diff(args.a, args.b, ops=args.ops, seed=args.seed, tenant_prefix=args.tenant_prefix)
    if args.json:
        _print(report.json)
    else:
        for difference in report.differences:
            _print(difference)
        _print(report.summary)
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """The ``eventstore-conformance`` command; returns its exit status (0: the
    store conforms, 1: a case failed or an answer differed, 2: the command
    could not run)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            return _main_check(parser, args)
        return _main_diff(parser, args)
    except (EventStoreError, ValueError) as error:
        print(f"eventstore-conformance: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eventstore-conformance: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
