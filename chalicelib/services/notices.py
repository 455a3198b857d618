"""Versioned privacy notices kept in the repository; consents record the version and its SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from chalicelib.errors import FieldIssue, InvalidInput

CURRENT_PRIVACY_NOTICE_VERSION = "2026-11-01"
_NOTICES = Path(__file__).resolve().parent.parent / "notices"


@dataclass(frozen=True)
class Notice:
    version: str
    text: str
    sha256: str


@cache
def privacy_notice(version: str = CURRENT_PRIVACY_NOTICE_VERSION) -> Notice:
    text = (_NOTICES / f"privacy-notice-{version}.md").read_text(encoding="utf-8")
    return Notice(version, text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def accepted_current_notice(version: str, accepted: bool, field: str = "privacy_notice_version") -> Notice:
    """The notice a person accepts must be the current one: the consent records exactly what they saw."""
    notice = privacy_notice()
    if not accepted:
        raise InvalidInput("The privacy notice must be accepted.", issues=[FieldIssue("accept_privacy_notice", "must be true")])
    if version != notice.version:
        raise InvalidInput(
            "The privacy notice has changed; read the current version and accept it.",
            issues=[FieldIssue(field, f"the current version is {notice.version}", "outdated")],
        )
    return notice
