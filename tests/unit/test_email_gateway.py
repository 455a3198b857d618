"""The SES gateway: plain mail through SendEmail, mail with attachments as MIME through SendRawEmail."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

from chalicelib.adapters.email import SesEmailGateway
from chalicelib.services.ports import Attachment

INVITE = Attachment("invite.ics", "text/calendar; method=REQUEST", "BEGIN:VCALENDAR\r\nSUMMARY:Möte\\, rum 3\r\nEND:VCALENDAR\r\n")


class RecordingSes:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def send_email(self, **kwargs: Any) -> None:
        self.calls.append(("send_email", kwargs))

    def send_raw_email(self, **kwargs: Any) -> None:
        self.calls.append(("send_raw_email", kwargs))


def test_without_attachments_the_mail_is_plain_text() -> None:
    ses = RecordingSes()
    SesEmailGateway(ses, "noreply@customersonly.example").send("a@example.com", "Hej", "Text")
    [(call, kwargs)] = ses.calls
    assert call == "send_email" and kwargs["Destination"] == {"ToAddresses": ["a@example.com"]}


def test_with_attachments_the_mail_is_mime_and_the_calendar_names_its_method() -> None:
    ses = RecordingSes()
    notes = Attachment("notes.json", "application/json", '{"a": 1}')
    SesEmailGateway(ses, "noreply@customersonly.example").send("a@example.com", "Intervju bokad: Göteborg", "Hej Åsa,\n", [INVITE, notes])
    [(call, kwargs)] = ses.calls
    assert call == "send_raw_email" and kwargs["Source"] == "noreply@customersonly.example"
    raw: bytes = kwargs["RawMessage"]["Data"]
    assert raw.isascii()  # 7-bit on the wire, as SES asks
    assert b"\r\nContent-Type: text/calendar; method=REQUEST; charset=UTF-8\r\n" in raw  # as calendar clients expect it
    message: Any = message_from_bytes(raw, policy=policy.default)
    assert (message["To"], message["From"], message["Subject"]) == (
        "a@example.com",
        "noreply@customersonly.example",
        "Intervju bokad: Göteborg",
    )
    assert message.get_body(("plain",)).get_content() == "Hej Åsa,\r\n"  # lines end in CRLF on the wire
    ics, json_part = message.iter_attachments()
    assert (ics.get_filename(), ics.get_content_type(), ics.get_param("method")) == ("invite.ics", "text/calendar", "REQUEST")
    assert ics.get_content() == INVITE.content  # CRLFs and all
    assert (json_part.get_content_type(), json_part.get_content()) == ("application/json", b'{"a": 1}')
