"""Warnings of the testing toolkit (no native code: ``-W`` and pytest's
``filterwarnings`` can name them without loading the extension)."""

from __future__ import annotations

__all__ = ["DockerUnavailableWarning"]


class DockerUnavailableWarning(UserWarning):
    """No Docker engine answered, so :class:`~eventstore.testing.EventStoreContainer`
    (``mode="auto"``, the default) runs the real server in this process
    instead.

    Filter it like any warning: ``warnings.simplefilter("ignore",
    DockerUnavailableWarning)``, or make it an error where Docker is
    required (``filterwarnings = error::eventstore.testing.DockerUnavailableWarning``
    in pytest's configuration, or ``EventStoreContainer(mode="docker")``).
    """
