"""Locally one pump reads the main table's stream for both of its consumers."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.local import streams


def test_every_consumer_sees_the_batch_and_a_record_failed_by_either_is_retried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def consumer(name: str, fails: list[str]) -> Any:
        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            seen.append(name)
            return {"batchItemFailures": [{"itemIdentifier": i} for i in fails]}

        return handle

    monkeypatch.setattr(streams, "handle_main_stream", consumer("outbox", ["2", "3"]))
    monkeypatch.setattr(streams, "handle_privacy_stream", consumer("privacy", ["3", "5"]))
    result = streams.handle_main_stream_locally({"Records": []}, None)
    assert seen == ["outbox", "privacy"]
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["2", "3", "5"]
