"""The main table's stream handler reindexes a consultant once per batch, at their last record."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.events import stream


def record(sequence: str, kind: str, pk: str, event: str = "INSERT") -> dict[str, Any]:
    image = {"pk": {"S": pk}, "sk": {"S": "X"}, "kind": {"S": kind}}
    change: dict[str, Any] = {"SequenceNumber": sequence, "Keys": {"pk": {"S": pk}, "sk": {"S": "X"}}}
    change["OldImage" if event == "REMOVE" else "NewImage"] = image
    return {"eventID": sequence, "eventName": event, "eventSource": "aws:dynamodb", "dynamodb": change}


def test_many_changes_of_one_consultant_reindex_them_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reindexed: list[str] = []
    monkeypatch.setattr(stream, "_reindex", reindexed.append)
    batch = [
        record("1", "profile", "USER#a"),
        *(record(str(n), "resume_item", "USER#a") for n in range(2, 6)),
        record("6", "resume_item", "USER#b"),
        record("7", "resume_item", "USER#a", "REMOVE"),
        record("8", "assignment", "ASSIGNMENT#x"),
    ]
    result = stream.handle_main_stream({"Records": batch}, None)
    assert result["batchItemFailures"] == []
    assert sorted(reindexed) == ["a", "b"]  # once each, at their last record
    assert stream.last_records_per_consultant(batch) == {"6", "7"}
