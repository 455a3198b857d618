"""Stored documents are handed out or signed only while their bytes still hash to the recorded SHA-256."""

from __future__ import annotations

import hashlib

from chalicelib.errors import Conflict
from chalicelib.logging import logger
from chalicelib.services.ports import ContractStorage

MAX_PDF_BYTES = 20 * 1024 * 1024


def verified_content(storage: ContractStorage, key: str, version_id: str | None, sha256: str) -> bytes:
    """The stored version's bytes; Conflict (and an error log for operators) when they no longer match."""
    fetched = storage.fetch(key, version_id, max_bytes=MAX_PDF_BYTES)
    content = fetched.content if fetched is not None else b""
    if fetched is None or fetched.size != len(content) or hashlib.sha256(content).hexdigest() != sha256:
        logger.error("stored document does not match its recorded hash", extra={"key": key})
        raise Conflict("The stored document does not match its recorded SHA-256; it was not used.")
    return content
