"""The mail the local SES (moto) sent, readable: plain messages and MIME ones with their attachments.

moto keeps what ``SendEmail`` sent as a ``Message`` (subject and body as given) and what
``SendRawEmail`` sent as a ``RawMessage`` (the MIME text); both are shown here in one shape:
``{source, subject, body, destinations: {"ToAddresses": [...]}, attachments: [{filename,
content_type, content}]}``. ``python -m chalicelib.cli outbox`` prints them from a running local stack.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable, Mapping
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

Mail = dict[str, Any]


def plain_mail(source: str, subject: str, body: str, destinations: Mapping[str, list[str]]) -> Mail:
    return {"source": source, "subject": subject, "body": body, "destinations": dict(destinations), "attachments": []}


def raw_mail(source: str, raw: str | bytes) -> Mail:
    """A MIME message in the shape of a plain one, with its attachments (text content decoded)."""
    message = message_from_bytes(raw.encode() if isinstance(raw, str) else raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    attachments = []
    for part in message.iter_attachments():
        content = part.get_content()
        attachments.append(
            {
                "filename": part.get_filename(),
                "content_type": _as_sent(part, "Content-Type"),
                "content": content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content,
            }
        )
    destinations = {
        f"{header}Addresses": [address for _, address in getaddresses([str(v) for v in message.get_all(header, [])])]
        for header in ("To", "Cc")
        if header in message
    }
    return {
        "source": source,
        "subject": str(message["Subject"] or ""),
        "body": body.get_content() if body is not None else "",
        "destinations": destinations,
        "attachments": attachments,
    }


def _as_sent(part: EmailMessage, header: str) -> str:
    """A header's value as it was written (the parsed one is re-rendered, e.g. with quoted parameters)."""
    raw = next((value for name, value in part.raw_items() if name.lower() == header.lower()), "")
    return " ".join(str(raw).split())


def addressed_to(mails: Iterable[Mail], address: str | None) -> list[Mail]:
    if address is None:
        return list(mails)
    wanted = address.strip().lower()
    return [m for m in mails if any(a.lower() == wanted for addresses in m["destinations"].values() for a in addresses)]


def mails_from_model_data(data: Mapping[str, Any]) -> list[Mail]:
    """The sent mails in moto's ``/moto-api/data.json`` (plain ones first, each kind in sending order)."""
    ses = data.get("ses", {})
    mails = [plain_mail(m["source"], m["subject"], m["body"], m["destinations"]) for m in ses.get("Message", [])]
    return mails + [raw_mail(m["source"], m["raw_data"]) for m in ses.get("RawMessage", [])]


def fetch_sent_mails(endpoint_url: str, timeout: float = 60.0) -> list[Mail]:
    """The mails a running local stack's SES sent (its ``/moto-api/data.json``)."""
    url = endpoint_url.rstrip("/") + "/moto-api/data.json"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http endpoint: {endpoint_url}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (an http(s) URL, checked above)
        return mails_from_model_data(json.load(response))


def describe(mail: Mail) -> str:
    """One mail as a person reads it in a terminal."""
    recipients = ", ".join(a for addresses in mail["destinations"].values() for a in addresses)
    lines = [f"To: {recipients}", f"From: {mail['source']}", f"Subject: {mail['subject']}"]
    lines += [f"Attachment: {a['filename']} ({a['content_type']}, {len(a['content'])} characters)" for a in mail["attachments"]]
    return "\n".join([*lines, "", mail["body"].replace("\r\n", "\n").rstrip("\n"), ""])
