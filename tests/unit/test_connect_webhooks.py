"""Connect webhooks: the HMAC signature (with key rotation), JSON SIM messages as DocuSign sends them, the
event id used for deduplication, and the messages the built-in provider builds in the same format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.esign.connect import (
    ConnectEvent,
    connect_message,
    connect_signature,
    format_docusign_datetime,
    parse_connect_event,
    parse_docusign_datetime,
    verify_connect_signature,
)
from chalicelib.errors import InvalidInput

FIXTURES = Path(__file__).parent.parent / "fixtures" / "docusign"
KEY_1 = b"HubXJXpM6vD1S+4ifeXGEyfqdUoh2wkGFbvzKyeOnPM="  # Connect keys are base64 text, used as the key bytes
KEY_2 = b"c2Vjb25kLWNvbm5lY3Qta2V5LWZvci1yb3RhdGlvbg=="
KEY_3 = b"dGhpcmQtY29ubmVjdC1rZXktbm90LWluLXVzZS15ZXQ="
OLD_KEY = b"b2xkLXJldGlyZWQta2V5LW5vLWxvbmdlci1hY2NlcHRlZA=="
ENVELOPE = "93be49e8-6f2a-4d1b-9c6e-2f0d3f8a1b77"
ACCOUNT = "5e6f7a8b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


BODY = fixture("connect_envelope_completed.json")


# --- signatures ---


def test_the_signature_is_the_base64_hmac_sha256_of_the_raw_body() -> None:
    # Computed independently: printf '%s' '{}' | openssl dgst -sha256 -hmac key -binary | base64
    assert connect_signature(b"{}", b"key") == "p3dyTZQ+tI3Gm8qKSm1XoE2z+ex+HeTlgehgJlvfMDI="


def test_a_body_signed_with_the_only_key_verifies() -> None:
    headers = {"X-DocuSign-Signature-1": connect_signature(BODY, KEY_1)}
    assert verify_connect_signature(BODY, headers, [KEY_1])


def test_any_configured_key_verifies_during_rotation() -> None:
    headers = {"X-DocuSign-Signature-1": connect_signature(BODY, KEY_2)}
    assert verify_connect_signature(BODY, headers, [KEY_1, KEY_2, KEY_3])


def test_a_later_header_verifies_when_the_first_is_from_a_retired_key() -> None:
    headers = {
        "X-DocuSign-Signature-1": connect_signature(BODY, OLD_KEY),
        "X-DocuSign-Signature-2": connect_signature(BODY, KEY_1),
    }
    assert verify_connect_signature(BODY, headers, [KEY_1])
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-1": connect_signature(BODY, OLD_KEY)}, [KEY_1])


def test_header_names_match_in_any_case() -> None:
    signature = connect_signature(BODY, KEY_1)
    for name in ("x-docusign-signature-1", "X-DOCUSIGN-SIGNATURE-1", "X-Docusign-Signature-1"):
        assert verify_connect_signature(BODY, {name: signature}, [KEY_1])


def test_the_hundredth_header_counts_and_the_hundred_and_first_does_not() -> None:
    signature = connect_signature(BODY, KEY_1)
    assert verify_connect_signature(BODY, {"X-DocuSign-Signature-100": signature}, [KEY_1])
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-101": signature}, [KEY_1])
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-0": signature}, [KEY_1])
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-": signature}, [KEY_1])
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-\u0661": signature}, [KEY_1])  # Arabic-Indic 1


def test_a_forged_signature_does_not_verify() -> None:
    forged = connect_signature(BODY, b"an attacker's guess")
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-1": forged}, [KEY_1, KEY_2])


def test_no_header_or_no_key_does_not_verify() -> None:
    assert not verify_connect_signature(BODY, {}, [KEY_1])
    assert not verify_connect_signature(BODY, {"Content-Type": "application/json"}, [KEY_1])
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-1": connect_signature(BODY, KEY_1)}, [])
    # An empty header does not match an empty key's signature by accident either.
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-1": ""}, [b""])


def test_a_body_changed_by_one_byte_does_not_verify() -> None:
    headers = {"X-DocuSign-Signature-1": connect_signature(BODY, KEY_1)}
    tampered = bytearray(BODY)
    position = BODY.index(b"completed")
    tampered[position] ^= 0x01
    assert not verify_connect_signature(bytes(tampered), headers, [KEY_1])
    assert not verify_connect_signature(BODY + b"\n", headers, [KEY_1])


@pytest.mark.parametrize("value", ["\u00e9t\u00e9", "\x00", "not base64 at all", " " * 10, "\ud800"])
def test_garbage_header_values_are_a_mismatch_not_an_exception(value: str) -> None:
    assert not verify_connect_signature(BODY, {"X-DocuSign-Signature-1": value}, [KEY_1])


def test_surrounding_whitespace_in_a_header_value_is_tolerated() -> None:
    headers = {"X-DocuSign-Signature-1": f" {connect_signature(BODY, KEY_1)}\t"}
    assert verify_connect_signature(BODY, headers, [KEY_1])


@settings(max_examples=200)
@given(headers=st.dictionaries(st.text(max_size=40), st.text(max_size=60), max_size=5))
def test_verification_never_raises(headers: dict[str, str]) -> None:
    assert verify_connect_signature(BODY, headers, [KEY_1]) in (True, False)


# --- parsing DocuSign's messages ---


@pytest.mark.parametrize(
    ("name", "event", "envelope_id", "recipient_id"),
    [
        ("connect_envelope_sent.json", "envelope-sent", ENVELOPE, None),
        ("connect_recipient_completed.json", "recipient-completed", ENVELOPE, "1"),
        ("connect_envelope_completed.json", "envelope-completed", ENVELOPE, None),
        ("connect_envelope_declined.json", "envelope-declined", "0d4c7b1e-2a3f-4e5d-9c8b-7a6f5e4d3c2b", None),
        ("connect_envelope_voided.json", "envelope-voided", "7f1e2d3c-4b5a-4697-8877-66554433aa11", None),
    ],
)
def test_docusigns_messages_parse(name: str, event: str, envelope_id: str, recipient_id: str | None) -> None:
    parsed = parse_connect_event(fixture(name))
    assert (parsed.event, parsed.envelope_id, parsed.recipient_id) == (event, envelope_id, recipient_id)
    assert parsed.generated_at is not None and parsed.generated_at.tzinfo is not None
    assert len(parsed.event_id) == 64


def test_seven_fractional_digits_are_read_to_the_microsecond() -> None:
    parsed = parse_connect_event(fixture("connect_envelope_completed.json"))
    assert parsed.generated_at == datetime(2026, 9, 24, 14, 5, 12, 310000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-09-24T14:05:12.3100000Z", datetime(2026, 9, 24, 14, 5, 12, 310000, tzinfo=UTC)),
        ("2026-09-24T14:05:12Z", datetime(2026, 9, 24, 14, 5, 12, tzinfo=UTC)),
        ("2026-09-24T14:05:12.1234567899Z"[:-2] + "Z", datetime(2026, 9, 24, 14, 5, 12, 123456, tzinfo=UTC)),
        ("2015-08-13T22:03:03.45", datetime(2015, 8, 13, 22, 3, 3, 450000, tzinfo=UTC)),  # userinfo: no zone
        ("2026-09-24T16:05:12.0000000+02:00", datetime(2026, 9, 24, 14, 5, 12, tzinfo=UTC)),
    ],
)
def test_docusign_timestamps(text: str, expected: datetime) -> None:
    assert parse_docusign_datetime(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-09-24", "9999-12-31T23:59:59-05:00"])
def test_unreadable_timestamps_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_docusign_datetime(text)


def _with(change: dict[str, object], *, data: dict[str, object] | None = None, drop: str | None = None) -> bytes:
    message = json.loads(BODY)
    message.update(change)
    if data is not None:
        message["data"].update(data)
    if drop is not None:
        message["data"].pop(drop)
    return json.dumps(message).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'"envelope-completed"',
        b"null",
        b"[" * 100_000,
        _with({"data": "not an object"}),
        _with({}, drop="envelopeId"),
        _with({}, data={"envelopeId": 12345}),
        _with({}, data={"envelopeId": ""}),
        _with({}, data={"envelopeId": "../../accounts/other/envelopes/x"}),
        _with({}, data={"envelopeId": "93be49e8?include=documents"}),
        _with({}, data={"envelopeId": "a" * 65}),
        _with({}, data={"envelopeId": f"{ENVELOPE}\n"}),
        _with({}, data={"recipientId": 1}),
        _with({"event": 7}),
        _with({"event": ""}),
        _with({"event": "envelope completed <script>"}),
        _with({"retryCount": "1"}),
        _with({"retryCount": True}),
        _with({"retryCount": -1}),
        _with({"generatedDateTime": "last tuesday"}),
        _with({"generatedDateTime": 1727186712}),
    ],
)
def test_malformed_messages_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_connect_event(body)


def test_invalid_input_does_not_echo_the_offending_value() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_connect_event(_with({}, data={"envelopeId": "jane.doe@example.com"}))
    assert "jane.doe" not in caught.value.detail
    assert all("jane.doe" not in issue.message for issue in caught.value.issues)
    assert [issue.field for issue in caught.value.issues] == ["data.envelopeId"]


@settings(max_examples=500)
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_are_invalid_input(raw: bytes) -> None:
    try:
        parsed = parse_connect_event(raw)
    except InvalidInput:
        return
    assert isinstance(parsed, ConnectEvent)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "event": json_values | st.sampled_from(["envelope-sent", "envelope-completed"]),
            "generatedDateTime": json_values | st.just("2026-09-24T14:05:12.3100000Z"),
            "retryCount": json_values,
            "data": st.fixed_dictionaries({}, optional={"envelopeId": json_values | st.just(ENVELOPE), "recipientId": json_values}),
        },
    )
)
def test_any_json_object_parses_or_is_invalid_input(message: dict[str, object]) -> None:
    try:
        parsed = parse_connect_event(json.dumps(message).encode())
    except InvalidInput:
        return
    assert parsed.envelope_id == ENVELOPE


# --- deduplication ids ---


def test_a_redelivery_has_the_same_event_id() -> None:
    first = parse_connect_event(BODY)
    for retry in (1, 2, 7):
        assert parse_connect_event(_with({"retryCount": retry})).event_id == first.event_id


def test_the_same_moment_spelt_differently_has_the_same_event_id() -> None:
    first = parse_connect_event(BODY)
    assert parse_connect_event(_with({"generatedDateTime": "2026-09-24T14:05:12.31Z"})).event_id == first.event_id


def test_different_events_have_different_event_ids() -> None:
    ids = {parse_connect_event(path.read_bytes()).event_id for path in FIXTURES.glob("connect_*.json")}
    assert len(ids) == 5
    base = parse_connect_event(BODY).event_id
    assert parse_connect_event(_with({"event": "envelope-delivered"})).event_id != base
    assert parse_connect_event(_with({"generatedDateTime": "2026-09-24T14:05:12.3110000Z"})).event_id != base
    assert parse_connect_event(_with({}, data={"envelopeId": "0d4c7b1e-2a3f-4e5d-9c8b-7a6f5e4d3c2b"})).event_id != base
    assert (
        parse_connect_event(_with({"event": "recipient-completed"}, data={"recipientId": "1"})).event_id
        != parse_connect_event(_with({"event": "recipient-completed"}, data={"recipientId": "2"})).event_id
    )


# --- messages built by the platform ---


MOMENT = datetime(2026, 9, 24, 14, 5, 12, 310000, tzinfo=UTC)


def test_a_built_message_has_docusigns_shape() -> None:
    raw = connect_message("recipient-completed", ENVELOPE, account_id=ACCOUNT, generated_at=MOMENT, recipient_id="2")
    assert b" " not in raw  # compact
    message = json.loads(raw)
    assert list(message) == ["event", "apiVersion", "uri", "retryCount", "configurationId", "generatedDateTime", "data"]
    assert message["apiVersion"] == "v2.1"
    assert message["uri"] == f"/restapi/v2.1/accounts/{ACCOUNT}/envelopes/{ENVELOPE}"
    assert message["retryCount"] == 0
    assert message["generatedDateTime"] == "2026-09-24T14:05:12.3100000Z"
    assert message["data"] == {"accountId": ACCOUNT, "envelopeId": ENVELOPE, "recipientId": "2"}
    # The same keys as DocuSign's own message for the same event.
    docusign = json.loads(fixture("connect_recipient_completed.json"))
    assert set(message) == set(docusign)
    assert set(message["data"]) | {"userId"} == set(docusign["data"])


def test_a_built_message_parses_back_and_verifies() -> None:
    raw = connect_message("envelope-completed", ENVELOPE, account_id=ACCOUNT, generated_at=MOMENT, user_id="u-1")
    parsed = parse_connect_event(raw)
    assert (parsed.event, parsed.envelope_id, parsed.generated_at, parsed.recipient_id) == ("envelope-completed", ENVELOPE, MOMENT, None)
    assert verify_connect_signature(raw, {"X-DocuSign-Signature-1": connect_signature(raw, KEY_1)}, [KEY_1])
    # A built message and DocuSign's message for the same event are the same event.
    assert parsed.event_id == parse_connect_event(BODY).event_id


def test_a_built_message_with_an_event_id_carries_it() -> None:
    raw = connect_message("envelope-sent", ENVELOPE, account_id=ACCOUNT, generated_at=MOMENT, event_id="01J9ZK3V4Q8X2N6M0P5R7T9W1Y")
    assert parse_connect_event(raw).event_id == "01J9ZK3V4Q8X2N6M0P5R7T9W1Y"


def test_a_built_retry_keeps_the_event_id() -> None:
    first = connect_message("envelope-voided", ENVELOPE, account_id=ACCOUNT, generated_at=MOMENT)
    retry = connect_message("envelope-voided", ENVELOPE, account_id=ACCOUNT, generated_at=MOMENT, retry_count=3)
    assert first != retry
    assert parse_connect_event(first).event_id == parse_connect_event(retry).event_id


def test_building_refuses_what_would_not_parse() -> None:
    with pytest.raises(ValueError):
        connect_message("envelope-sent", "../x", account_id=ACCOUNT, generated_at=MOMENT)
    with pytest.raises(ValueError):
        connect_message("envelope sent", ENVELOPE, account_id=ACCOUNT, generated_at=MOMENT)
    with pytest.raises(ValueError):
        connect_message("envelope-sent", ENVELOPE, account_id=ACCOUNT, generated_at=datetime(2026, 1, 1))  # naive


def test_formatting_a_time_writes_seven_digits_in_utc() -> None:
    assert format_docusign_datetime(datetime(2026, 1, 2, 5, 4, 5, 6, tzinfo=UTC) + timedelta(0)) == "2026-01-02T05:04:05.0000060Z"
