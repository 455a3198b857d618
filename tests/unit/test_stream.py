"""The main table's stream handler reindexes a consultant once per batch, at their last record."""

from __future__ import annotations

import json
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


def account_change(sequence: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    change = record(sequence, "user", "USER#a", "MODIFY")
    image = change["dynamodb"].pop("NewImage")
    change["dynamodb"]["OldImage"] = {**image, "data": {"S": json.dumps(old)}}
    change["dynamodb"]["NewImage"] = {**image, "data": {"S": json.dumps(new)}}
    return change


def test_changes_that_cannot_change_findability_reindex_nobody() -> None:
    active = {"status": "active", "roles": ["consultant"], "last_active_at": "2026-11-26"}
    batch = [
        account_change("1", active, {**active, "last_active_at": "2026-11-27"}),  # the daily activity stamp
        record("2", "consent_changed", "USER#b", "REMOVE"),  # a marker's TTL expiry
    ]
    assert stream.last_records_per_consultant(batch) == set()
    disabled = account_change("3", active, {**active, "status": "disabled"})
    promoted = account_change("4", active, {**active, "roles": ["consultant", "staff"]})
    reordered = account_change("6", {**active, "roles": ["staff", "consultant"]}, {**active, "roles": ["consultant", "staff"]})
    assert stream.last_records_per_consultant([reordered]) == set()
    given = record("5", "consent_changed", "USER#b")
    assert stream.last_records_per_consultant([disabled]) == {"3"}
    assert stream.last_records_per_consultant([promoted]) == {"4"}
    assert stream.last_records_per_consultant([*batch, given]) == {"5"}


def payout_change(sequence: str, old_active: bool, new_active: bool) -> dict[str, Any]:
    def data(active: bool) -> dict[str, Any]:
        return {
            "agency_id": "agency-1",
            "account_id": "acct_1",
            "created_at": "2026-11-01T00:00:00+00:00",
            "updated_at": "2026-11-02T00:00:00+00:00",
            "transfers_active": active,
        }

    change = record(sequence, "payout_account", "ORG#agency-1", "MODIFY")
    image = change["dynamodb"].pop("NewImage")
    change["dynamodb"]["OldImage"] = {**image, "data": {"S": json.dumps(data(old_active))}}
    change["dynamodb"]["NewImage"] = {**image, "data": {"S": json.dumps(data(new_active))}}
    return change


def test_an_agency_that_can_now_be_paid_gets_its_waiting_invoices_issued_by_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services import invoicing

    issued: list[str] = []
    monkeypatch.setattr(invoicing, "issue_waiting_invoices", lambda ports, agency_id: issued.append(agency_id) or 1)
    monkeypatch.setattr(stream, "get_container", lambda: type("C", (), {"invoicing": None})())
    batch = [payout_change("1", False, False), payout_change("2", False, True), payout_change("3", True, True)]
    assert stream.handle_main_stream({"Records": batch}, None)["batchItemFailures"] == []
    assert issued == ["agency-1"]  # only when transfers turned active


def test_a_consultant_who_becomes_active_is_given_an_agent_by_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services import agents

    given: list[str] = []
    monkeypatch.setattr(agents, "assign_agent_by_load", lambda ports, user_id: given.append(user_id))
    monkeypatch.setattr(stream, "get_container", lambda: type("C", (), {"contracts": None})())
    monkeypatch.setattr(stream, "_reindex", lambda user_id: None)
    pending = {"user_id": "a", "status": "pending_verification", "roles": ["consultant"]}
    active = {**pending, "status": "active"}
    batch = [
        account_change("1", pending, active),  # verified: now active
        account_change("2", active, {**active, "last_active_at": "2026-11-27"}),  # was active already
        account_change("3", {**active, "roles": ["agency_admin"]}, {**active, "roles": ["agency_admin"]}),  # no consultant
    ]
    assert stream.handle_main_stream({"Records": batch}, None)["batchItemFailures"] == []
    assert given == ["a"]
