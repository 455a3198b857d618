"""Identifiers and time.

Ids are ULIDs (48-bit millisecond time + 80 random bits, Crockford base32): sortable by creation time,
which the ledger and audit log use as sort keys, and unguessable enough to appear in URLs.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
# Anything a path may name: our ULIDs, or a user id, which is the Cognito `sub` (a UUID).
PATH_ID_PATTERN = re.compile(r"^(?:[0-9A-HJKMNP-TV-Z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


_last = [0, 0]  # (millisecond, random part) of the previous id: ids are monotonic within a process
_lock = threading.Lock()


def new_id() -> str:
    with _lock:
        millis = int(time.time() * 1000)
        if millis <= _last[0]:
            millis, randomness = _last[0], _last[1] + 1
        else:
            randomness = secrets.randbits(80)
        _last[:] = [millis, randomness]
    value = (millis << 80) | (randomness & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_path_id(value: str) -> bool:
    return PATH_ID_PATTERN.fullmatch(value) is not None  # fullmatch: `$` would accept a trailing newline


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a trailing Z, as every API and stored time is written."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
