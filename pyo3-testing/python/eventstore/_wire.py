"""The shape of an event the Rust core reads from Python (``src/convert.rs``,
``event_from_dict``): typed once here, imported by the encoder
(``_encoding.py``) and the extension's stub (``_native.pyi``). A leaf
module, so the stub imports nothing that imports the stub.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["WireEvent"]


class WireEvent(TypedDict, total=False):
    """One event to append, as the Rust core reads it (``event_from_dict``).

    Keys left out (or ``None``) are the protobuf defaults; the store fills
    ``recorded_time_unix_ms`` and ``global_nonce`` itself.
    """

    event_id: str | None
    aggregate_id: str
    aggregate_type: str
    aggregate_nonce: int
    event_type: str
    event_version: int
    content_type: str
    content_schema: str
    correlation_id: str
    causation_id: str
    actor_id: str
    tenant_id: str
    timestamp_unix_ms: int
    payload_sha256: bytes
    headers: dict[str, str]
    payload: bytes
