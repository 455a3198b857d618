"""Interview invitations as iCalendar (RFC 5545), read back with the icalendar parser."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chalicelib.notifications.calendar import CalendarAttendee, interview_calendar

STOCKHOLM_WINTER = timezone(timedelta(hours=1))
ORGANIZER = CalendarAttendee("Bo Buyer", "bo@client.example")
ATTENDEES = [
    CalendarAttendee("Cecilia Consultant", "cecilia@consultant.example"),
    CalendarAttendee("Anna Admin", "anna@agency.example", role="OPT-PARTICIPANT"),
]


def invite(**overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "uid": "01JINTERVIEW0000000000000@customersonly",
        "sequence": 0,
        "method": "REQUEST",
        "starts_at": datetime(2026, 12, 3, 10, 0, tzinfo=STOCKHOLM_WINTER),
        "ends_at": datetime(2026, 12, 3, 11, 0, tzinfo=STOCKHOLM_WINTER),
        "summary": "Interview: Cloud architect",
        "description": "Interview for the assignment",
        "location": "Drottninggatan 1, Stockholm",
        "organizer": ORGANIZER,
        "attendees": ATTENDEES,
        "stamp": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        **overrides,
    }
    return interview_calendar(**arguments)


def parsed(attachment: Any) -> tuple[Any, Any]:
    from icalendar import Calendar

    calendar = Calendar.from_ical(attachment.content)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def test_a_booking_is_a_request_with_every_property_a_calendar_client_needs() -> None:
    attachment = invite()
    assert (attachment.filename, attachment.content_type) == ("invite.ics", "text/calendar; method=REQUEST")
    assert "\r\n" in attachment.content  # RFC 5545 lines end in CRLF
    calendar, event = parsed(attachment)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"] and calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == "01JINTERVIEW0000000000000@customersonly" and event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # written in UTC
    assert event.decoded("DTEND") == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert "DTSTART:20261203T090000Z" in attachment.content and "DTSTAMP:20261127T120000Z" in attachment.content
    assert str(event["SUMMARY"]) == "Interview: Cloud architect" and str(event["STATUS"]) == "CONFIRMED"
    assert str(event["LOCATION"]) == "Drottninggatan 1, Stockholm"
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:bo@client.example" and organizer.params["CN"] == "Bo Buyer"
    attendees = {str(a): a.params for a in event["ATTENDEE"]}
    assert set(attendees) == {"mailto:cecilia@consultant.example", "mailto:anna@agency.example"}
    cecilia, anna = attendees["mailto:cecilia@consultant.example"], attendees["mailto:anna@agency.example"]
    assert (cecilia["CN"], cecilia["ROLE"], cecilia["PARTSTAT"], cecilia["RSVP"]) == (
        "Cecilia Consultant",
        "REQ-PARTICIPANT",
        "NEEDS-ACTION",
        "TRUE",
    )
    assert anna["ROLE"] == "OPT-PARTICIPANT"


def test_a_reschedule_keeps_the_uid_with_a_higher_sequence_and_a_cancellation_is_cancelled() -> None:
    _, booked = parsed(invite())
    _, moved = parsed(
        invite(sequence=1, starts_at=datetime(2026, 12, 4, 9, 0, tzinfo=UTC), ends_at=datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
    )
    cancellation = invite(sequence=2, method="CANCEL")
    calendar, cancelled = parsed(cancellation)
    assert booked["UID"] == moved["UID"] == cancelled["UID"]
    assert booked["SEQUENCE"] < moved["SEQUENCE"] < cancelled["SEQUENCE"]
    assert moved.decoded("DTSTART") == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert cancellation.content_type == "text/calendar; method=CANCEL"
    assert calendar["METHOD"] == "CANCEL" and str(cancelled["STATUS"]) == "CANCELLED"


def test_text_with_separators_line_breaks_and_swedish_letters_survives_escaping() -> None:
    tricky = "Intervju; rum 3, plan 2\nTa med: id-kort, CV\\portfölj \N{EN DASH} åäö ÅÄÖ"
    attachment = invite(
        summary="Möte, intervju; Göteborg",
        description=tricky,
        location="Kungsgatan 5; 411 19 Göteborg, Sverige",
        organizer=CalendarAttendee("Åsa Öberg, HR; Rekrytering", "asa@client.example"),
    )
    assert "Möte\\, intervju\\; Göteborg" in attachment.content  # escaped as RFC 5545 says
    _, event = parsed(attachment)
    assert str(event["SUMMARY"]) == "Möte, intervju; Göteborg"
    assert str(event["DESCRIPTION"]) == tricky
    assert str(event["LOCATION"]) == "Kungsgatan 5; 411 19 Göteborg, Sverige"
    assert event["ORGANIZER"].params["CN"] == "Åsa Öberg, HR; Rekrytering"


def test_no_location_no_property_and_bad_input_is_refused() -> None:
    _, event = parsed(invite(location=None))
    assert "LOCATION" not in event
    with pytest.raises(ValueError, match="method"):
        invite(method="PUBLISH")
    with pytest.raises(ValueError, match="timezone"):
        invite(starts_at=datetime(2026, 12, 3, 10, 0))
    with pytest.raises(ValueError, match="after"):
        invite(ends_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC))


def test_the_api_entry_point_does_not_import_icalendar() -> None:
    """Cold start: the library is imported by the function that builds calendars, on first use."""
    probe = "import sys, app; import chalicelib.notifications.calendar; print('icalendar' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root).stdout
    assert printed.strip() == "False"
