"""E-mail through Amazon SES: plain text, or a MIME message when there are attachments."""

from __future__ import annotations

from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from typing import Any

from chalicelib.services.ports import Attachment


class SesEmailGateway:
    def __init__(self, client: Any, sender: str) -> None:
        self._ses = client
        self._sender = sender

    def send(self, to: str, subject: str, text: str, attachments: Sequence[Attachment] = ()) -> None:
        if not attachments:
            self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [to]},
                Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}},
            )
            return
        # No Destinations: SES then takes the recipients from the To header, which names the one recipient.
        raw = mime_message(self._sender, to, subject, text, attachments).as_bytes(policy=policy.SMTP)
        self._ses.send_raw_email(Source=self._sender, RawMessage={"Data": raw})


def mime_message(sender: str, to: str, subject: str, text: str, attachments: Sequence[Attachment]) -> EmailMessage:
    """A text/plain body with each attachment after it (multipart/mixed). Everything is 7-bit on the wire,
    as SES asks: the body quoted-printable, attachments base64."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text, cte="quoted-printable")
    for attachment in attachments:
        media_type, _, parameters = attachment.content_type.partition(";")
        maintype, _, subtype = media_type.strip().lower().partition("/")
        # As bytes, even text: a text part's lines would be re-ended, and an .ics file's must stay CRLF.
        message.add_attachment(attachment.content.encode("utf-8"), maintype=maintype, subtype=subtype, filename=attachment.filename)
        *_, part = message.iter_attachments()
        if (maintype, subtype) == ("text", "calendar"):
            # Calendar clients read the iTIP method from the Content-Type (RFC 6047).
            method = _parameter(parameters, "method") or "PUBLISH"
            # Stored as written (set_raw): the email package would otherwise quote the values on output.
            del part["Content-Type"]
            part.set_raw("Content-Type", f"text/calendar; method={method}; charset=UTF-8")
            continue
        for name, value in _parameters(parameters):
            if name != "charset":
                part.set_param(name, value)
        if maintype == "text":
            part.set_param("charset", "UTF-8")
    return message


def _parameters(parameters: str) -> list[tuple[str, str]]:
    pairs = []
    for item in parameters.split(";"):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            pairs.append((name.strip().lower(), value.strip().strip('"')))
    return pairs


def _parameter(parameters: str, wanted: str) -> str | None:
    return next((value.upper() for name, value in _parameters(parameters) if name == wanted), None)
