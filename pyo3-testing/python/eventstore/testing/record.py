"""``python -m eventstore.testing.record``: the recorder, from the wheel.

Reads one tenant's events from any store that serves ``ReadAll`` and writes
a fixture file that :meth:`MockEventStore.from_fixture
<eventstore.testing.MockEventStore.from_fixture>` (or ``eventstore-mock
--seed FILE``) replays with the same events and nonces::

    python -m eventstore.testing.record --from prod-store:50051 --tenant acme \\
        --redact /customer/email --out fixtures/acme.json

The options, messages and exit status are those of ``eventstore-mock
record`` (the same Rust code runs), so no Rust toolchain is needed.
``--help`` lists them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from eventstore import _native

__all__ = ["main"]

PROGRAM = "python -m eventstore.testing.record"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the recorder with ``argv`` (default: the command line); returns
    the exit status: 0 when the fixture was written, 1 when the recording
    failed (the reason is printed to stderr), 2 for a usage error."""
    args = list(sys.argv[1:] if argv is None else argv)
    # The summary and errors are printed by Rust: flush what Python holds first.
    sys.stdout.flush()
    sys.stderr.flush()
    return _native.record_main([PROGRAM, *args])


if __name__ == "__main__":
    sys.exit(main())
