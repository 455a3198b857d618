"""DocuSign Connect webhooks: the JSON SIM message format and its HMAC signature.

DocuSign posts one JSON SIM message per event ("Send Individual Messages", Connect 2.0:
https://developers.docusign.com/platform/webhooks/connect/json-sim-event-model). The platform's built-in
signature posts the very same format, signed the same way, to the same endpoint, so one receiver serves both.

Signatures (https://developers.docusign.com/platform/webhooks/connect/hmac and .../connect/validate): the
base64 of HMAC-SHA256 over the raw body, one ``X-DocuSign-Signature-N`` header per active Connect key. An
account may hold several keys at once (rotation), so any header matching any configured key is enough.

A webhook only says *that* something happened: receivers re-fetch the envelope from its provider before
acting on it, so the message carries identifiers and nothing that would be trusted as state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import FieldIssue, InvalidInput

SIGNATURE_HEADER_PREFIX = "x-docusign-signature-"
MAX_SIGNATURE_HEADERS = 100  # DocuSign numbers the headers from 1; the HMAC guide allows up to 100
API_VERSION = "v2.1"

# DocuSign envelope ids are GUIDs; the built-in provider uses ULIDs. Both fit, and neither can smuggle a
# path separator or query into the REST URLs the id is later put into.
ENVELOPE_ID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
_ENVELOPE_ID = re.compile(ENVELOPE_ID_PATTERN)
_NAME_PATTERN = r"^[A-Za-z0-9-]{1,64}$"  # event names ("envelope-sent"), recipient ids ("1") and event ids

# DocuSign writes times with seven fractional digits (.NET ticks) and a Z; userinfo's "created" has no zone
# at all. Python's fromisoformat takes at most six digits before 3.11's relaxations and never seven.
_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?(?P<zone>Z|z|[+-]\d{2}:?\d{2})?$"
)


def connect_signature(raw_body: bytes, key: bytes) -> str:
    """What DocuSign puts in an ``X-DocuSign-Signature-N`` header for ``raw_body`` signed with ``key``."""
    return base64.b64encode(hmac.new(key, raw_body, hashlib.sha256).digest()).decode("ascii")


def verify_connect_signature(raw_body: bytes, headers: Mapping[str, str], keys: Sequence[bytes]) -> bool:
    """True when any ``X-DocuSign-Signature-1..100`` header (any case) is the signature of ``raw_body`` under
    any of ``keys``. Never raises: a garbled header is simply not a match."""
    if not keys:
        return False
    presented: list[bytes] = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        lowered = name.strip().lower()
        if not lowered.startswith(SIGNATURE_HEADER_PREFIX):
            continue
        number = lowered[len(SIGNATURE_HEADER_PREFIX) :]
        # isdecimal alone would accept non-ASCII digits (Arabic-Indic ones, say), which int() then reads as a number.
        if not (number.isascii() and number.isdecimal() and 1 <= int(number) <= MAX_SIGNATURE_HEADERS):
            continue
        try:
            presented.append(value.strip().encode("ascii"))
        except UnicodeEncodeError:
            continue  # no base64 signature has non-ASCII characters
    if not presented:
        return False
    expected = [connect_signature(raw_body, key).encode("ascii") for key in keys]
    matched = False
    # Every pair is compared, in constant time each, so timing tells nothing about which header or key is close.
    for candidate in presented:
        for signature in expected:
            matched |= hmac.compare_digest(candidate, signature)
    return matched


@dataclass(frozen=True)
class ConnectEvent:
    event_id: str  # stable across redeliveries of one message; see ``_event_id``
    event: str  # "envelope-sent", "recipient-completed", "envelope-completed", "envelope-declined", "envelope-voided", ...
    envelope_id: str
    generated_at: datetime | None
    recipient_id: str | None


class _ConnectData(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    accountId: str | None = Field(default=None, max_length=64)
    userId: str | None = Field(default=None, max_length=64)
    envelopeId: str = Field(pattern=ENVELOPE_ID_PATTERN)
    recipientId: str | None = Field(default=None, pattern=_NAME_PATTERN)


class _ConnectMessage(BaseModel):
    # Unknown fields (envelopeSummary, when a configuration includes it) are ignored: receivers re-fetch.
    model_config = ConfigDict(extra="ignore", strict=True)

    event: str = Field(pattern=_NAME_PATTERN)
    apiVersion: str | None = Field(default=None, max_length=16)
    uri: str | None = Field(default=None, max_length=512)
    retryCount: int | None = Field(default=None, ge=0)
    configurationId: int | str | None = None  # a number in DocuSign's messages, a string in some samples
    generatedDateTime: str | None = Field(default=None, max_length=40)
    # Not DocuSign's: only the built-in provider sets it (see ``connect_message``).
    eventId: str | None = Field(default=None, pattern=_NAME_PATTERN)
    data: _ConnectData


def parse_docusign_datetime(text: str) -> datetime:
    """A DocuSign timestamp as an aware UTC datetime. Accepts 0-9 fractional digits (DocuSign sends seven)
    and a Z, an offset or no zone at all (read as UTC, which is what DocuSign means). Raises ValueError."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a DocuSign timestamp: {text[:40]!r}")
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]  # beyond microseconds is beyond datetime
    zone = match["zone"]
    if zone is None or zone in ("Z", "z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{zone}").astimezone(UTC)
    except OverflowError as exc:  # year 9999 with a negative offset lands past datetime.max in UTC
        raise ValueError(f"not a representable timestamp: {text[:40]!r}") from exc


def format_docusign_datetime(moment: datetime) -> str:
    """``moment`` the way DocuSign writes it: UTC, seven fractional digits, a Z."""
    if moment.tzinfo is None:
        raise ValueError("a Connect timestamp needs an aware datetime")
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def _event_id(event: str, envelope_id: str, recipient_id: str | None, generated_at: datetime | None) -> str:
    """An id for deduplication, derived because DocuSign does not send one.

    The JSON SIM message structure (https://developers.docusign.com/platform/webhooks/connect/json-sim-event-model,
    "Message structure") is ``event``, ``apiVersion``, ``uri``, ``retryCount``, ``configurationId``,
    ``generatedDateTime`` and ``data``: no per-message id. A redelivery repeats the message with a higher
    ``retryCount`` and everything else unchanged, so the id hashes what identifies the event and leaves
    ``retryCount`` out. Two different events differ in the event name, the envelope, the recipient or the
    time the event was generated. The time is normalised so that only the moment matters, not its spelling.
    """
    moment = generated_at.astimezone(UTC).isoformat() if generated_at is not None else ""
    canonical = json.dumps([event, envelope_id, recipient_id or "", moment], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_connect_event(raw_body: bytes) -> ConnectEvent:
    """The event in a JSON SIM message. Raises InvalidInput for anything that is not one; never anything else."""
    try:
        payload = json.loads(raw_body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError; deep nesting recurses
        raise InvalidInput("The webhook body is not JSON.", issues=[FieldIssue("body", "not JSON")]) from exc
    if not isinstance(payload, dict):
        raise InvalidInput("The webhook body is not a JSON object.", issues=[FieldIssue("body", "not an object")])
    try:
        message = _ConnectMessage.model_validate(payload)
    except ValidationError as exc:
        # Locations and messages only: pydantic's errors would otherwise echo the offending input.
        issues = [FieldIssue(".".join(str(part) for part in error["loc"]) or "body", error["msg"]) for error in exc.errors()]
        raise InvalidInput("The webhook body is not a Connect message.", issues=issues) from exc
    generated_at: datetime | None = None
    if message.generatedDateTime is not None:
        try:
            generated_at = parse_docusign_datetime(message.generatedDateTime)
        except ValueError as exc:
            raise InvalidInput(
                "The webhook's generatedDateTime is not a timestamp.", issues=[FieldIssue("generatedDateTime", "not a timestamp")]
            ) from exc
    data = message.data
    event_id = message.eventId or _event_id(message.event, data.envelopeId, data.recipientId, generated_at)
    return ConnectEvent(
        event_id=event_id, event=message.event, envelope_id=data.envelopeId, generated_at=generated_at, recipient_id=data.recipientId
    )


def connect_message(
    event: str,
    envelope_id: str,
    *,
    account_id: str,
    generated_at: datetime,
    recipient_id: str | None = None,
    event_id: str | None = None,
    user_id: str | None = None,
    configuration_id: int = 0,
    retry_count: int = 0,
) -> bytes:
    """A JSON SIM message as DocuSign sends it (compact JSON, UTF-8), for the built-in provider's webhooks
    and for tests. ``event_id`` adds an ``eventId`` field, which DocuSign never sends: the built-in provider
    may use it to name its events itself; without it the receiver derives the id as for DocuSign's."""
    if _ENVELOPE_ID.fullmatch(envelope_id) is None:
        raise ValueError("an envelope id is 1-64 letters, digits and hyphens")
    for name, value in (("event", event), ("recipient_id", recipient_id), ("event_id", event_id)):
        if value is not None and re.fullmatch(_NAME_PATTERN, value) is None:
            raise ValueError(f"{name} is 1-64 letters, digits and hyphens")
    data: dict[str, str] = {"accountId": account_id}
    if user_id is not None:
        data["userId"] = user_id
    data["envelopeId"] = envelope_id
    if recipient_id is not None:
        data["recipientId"] = recipient_id
    message: dict[str, object] = {
        "event": event,
        "apiVersion": API_VERSION,
        "uri": f"/restapi/{API_VERSION}/accounts/{account_id}/envelopes/{envelope_id}",
        "retryCount": retry_count,
        "configurationId": configuration_id,
        "generatedDateTime": format_docusign_datetime(generated_at),
    }
    if event_id is not None:
        message["eventId"] = event_id
    message["data"] = data
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
