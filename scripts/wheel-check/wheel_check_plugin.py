"""pytest plugin of scripts/test-wheel: runs the guide's examples against
the mock only (the "real" target needs a server binary of the source tree)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    real = [
        i for i in items if getattr(i, "callspec", None) is not None and i.callspec.params.get("guide_target") == "real"
    ]
    if real:
        config.hook.pytest_deselected(items=real)
        items[:] = [i for i in items if i not in real]
