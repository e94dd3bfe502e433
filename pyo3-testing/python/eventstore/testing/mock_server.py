"""``eventstore-mock`` (also ``python -m eventstore.testing.mock_server``):
the mock event store as a standalone server, from the wheel.

For tests in other processes: the shared store of ``pytest -n 4``, a
recorded fixture replayed with ``--seed FILE``, a service under test in
another language::

    eventstore-mock --listen 127.0.0.1:0 --seed fixtures/acme.json

It is the Rust ``eventstore-mock`` command line (``eventstore_mock::cli``,
the same code as the Rust crate's binary): :func:`main` passes its argv
there, so both commands have the same flags and ``EVENTSTORE_MOCK_*``
variables, messages and exit status, and ``eventstore-mock record ...``
(:mod:`eventstore.testing.record`) too. It prints one line
``eventstore-mock listening on <ip:port>`` to stdout once it accepts
requests (logs go to stderr, filtered by ``RUST_LOG``), serves until
SIGTERM or SIGINT (Ctrl-C), then exits 0 (1 when ``--verify-on-exit``
finds an unmet expectation). ``--help`` lists the flags.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Generator, Sequence

from eventstore import _native

__all__ = ["main"]

PROGRAM = "eventstore-mock"


@contextlib.contextmanager
def _sigint_for_rust() -> Generator[None, None, None]:
    """While the command runs, SIGINT has the disposition it has in the
    binary: the Rust command then stops on Ctrl-C as on SIGTERM (gracefully,
    ``--verify-on-exit`` and all) once it serves, and Python's own handler
    does not race it with a ``KeyboardInterrupt`` that would drop the
    serving mock. Only a handler of Python's is set aside (an ignored
    SIGINT, as a shell's background job has, stays ignored until Rust
    installs its handler, as in the binary), on POSIX in the main thread
    (elsewhere Ctrl-C raises ``KeyboardInterrupt``); it is back afterwards."""
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``eventstore-mock`` with ``argv`` (default: the command line)
    until SIGTERM or SIGINT; returns the exit status: 0 once stopped, 1 when
    it cannot serve (the reason is printed to stderr) or
    ``--verify-on-exit`` found an unmet expectation, 2 for a usage error."""
    args = list(sys.argv[1:] if argv is None else argv)
    # The readiness line and errors are printed by Rust: flush what Python holds first.
    sys.stdout.flush()
    sys.stderr.flush()
    with _sigint_for_rust():
        return _native.mock_main([PROGRAM, *args])


if __name__ == "__main__":
    sys.exit(main())
