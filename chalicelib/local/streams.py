"""Locally, one reader of the main table's stream for the consumers AWS runs side by side.

In AWS each consumer has its own event source mapping (the privacy worker's filtered to its records);
locally the event pump reads the stream once and hands every batch to each consumer here. Each ignores
records that are not its own, so the outcome is the same. A record one of them failed is retried for
both: that is harmless, since each consumer's handling is idempotent.
"""

from __future__ import annotations

from typing import Any

from chalicelib.events.privacy import handle_privacy_stream
from chalicelib.events.stream import handle_main_stream


def handle_main_stream_locally(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failed: list[Any] = []  # stream sequence numbers
    for consumer in (handle_main_stream, handle_privacy_stream):
        failed += [f["itemIdentifier"] for f in consumer(event, context)["batchItemFailures"] if f["itemIdentifier"] not in failed]
    return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in failed]}
