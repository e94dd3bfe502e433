"""The installed package's metadata: what each extra brings in."""

from __future__ import annotations

import re
from importlib.metadata import requires


def extras_of(requirement: str) -> tuple[str, set[str]]:
    """``("trio", {"dev"})`` for ``trio>=0.25 ; extra == 'dev'``."""
    name = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert name is not None, requirement
    return name.group(0).lower(), set(re.findall(r"""extra\s*==\s*['"]([^'"]+)['"]""", requirement))


def test_trio_is_only_in_the_dev_extra() -> None:
    # With trio installed, anyio's pytest plugin runs every @pytest.mark.anyio
    # test on trio too, where the SDK (asyncio-only) fails: a user's [test]
    # extra must not bring it in. Our own tests need it (the dev extra).
    by_name: dict[str, set[str]] = {}
    for requirement in requires("eventstore-sdk-py") or []:
        name, extras = extras_of(requirement)
        by_name.setdefault(name, set()).update(extras or {""})
    assert by_name["trio"] == {"dev"}, by_name
    assert {"pytest", "pytest-asyncio", "anyio", "pytest-xdist"} <= {n for n, e in by_name.items() if "test" in e}
