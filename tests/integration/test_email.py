"""E-mail through the local SES: plain text, and MIME with a calendar invitation attached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.notifications.calendar import CalendarAttendee, interview_calendar
from chalicelib.services.ports import Attachment
from tests.conftest import LocalStack, unique_email
from tests.functional.conftest import sent_mails

pytestmark = pytest.mark.integration


def gateway(local_aws: LocalStack) -> Any:
    return local_aws.container.email  # type: ignore[attr-defined]


def test_a_mail_without_attachments_is_sent_as_plain_text(local_aws: LocalStack) -> None:
    to = unique_email("plain")
    gateway(local_aws).send(to, "Hej Åsa", "Välkommen!\n")
    [mail] = sent_mails(to)
    assert (mail["subject"], mail["body"], mail["attachments"]) == ("Hej Åsa", "Välkommen!\n", [])


def test_a_calendar_invitation_travels_as_a_mime_attachment_and_reads_back(local_aws: LocalStack) -> None:
    from icalendar import Calendar

    to = unique_email("invitee")
    invite = interview_calendar(
        uid="01JTESTINTERVIEW@customersonly",
        sequence=1,
        method="REQUEST",
        starts_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
        summary="Intervju: Molnarkitekt",
        description="Rum 3, plan 2; ta med id-kort",
        location="Göteborg",
        organizer=CalendarAttendee("Bo Buyer", "bo@client.example"),
        attendees=[CalendarAttendee("Cecilia Consultant", to)],
        stamp=datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
    )
    notes = Attachment("notes.txt", "text/plain", "Förberedelser: inga.")
    gateway(local_aws).send(to, "Intervju bokad: Göteborg", "Hej Cecilia,\n\nintervjun är bokad.\n", [invite, notes])

    [mail] = sent_mails(to)
    assert mail["subject"] == "Intervju bokad: Göteborg"
    assert mail["body"].replace("\r\n", "\n") == "Hej Cecilia,\n\nintervjun är bokad.\n"
    assert mail["destinations"] == {"ToAddresses": [to]}
    assert mail["source"] == local_aws.container.settings.email_sender  # type: ignore[attr-defined]
    ics, txt = mail["attachments"]
    assert ics["filename"] == "invite.ics" and ics["content_type"] == "text/calendar; method=REQUEST; charset=UTF-8"
    assert ics["content"] == invite.content  # byte for byte, CRLFs included
    [event] = Calendar.from_ical(ics["content"]).walk("VEVENT")
    assert str(event["DESCRIPTION"]) == "Rum 3, plan 2; ta med id-kort" and event["SEQUENCE"] == 1
    assert (txt["filename"], txt["content"]) == ("notes.txt", "Förberedelser: inga.")
