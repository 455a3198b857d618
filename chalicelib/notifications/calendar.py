"""Calendar invitations (iCalendar, RFC 5545, with the iTIP methods of RFC 5546) for interviews.

A booking is sent as METHOD:REQUEST, a reschedule as REQUEST again with the same UID and a higher
SEQUENCE (calendar clients then move the event instead of adding a second one), a cancellation as
METHOD:CANCEL with STATUS:CANCELLED. Times are written in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.services.ports import Attachment

PRODID = "-//Customersonly//Interviews//EN"
METHODS = ("REQUEST", "CANCEL")


@dataclass(frozen=True)
class CalendarAttendee:
    name: str
    email: str
    role: str = "REQ-PARTICIPANT"  # or "OPT-PARTICIPANT"


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def interview_calendar(
    *,
    uid: str,
    sequence: int,
    method: str,
    starts_at: datetime,
    ends_at: datetime,
    summary: str,
    description: str,
    location: str | None,
    organizer: CalendarAttendee,
    attendees: Sequence[CalendarAttendee],
    stamp: datetime,
) -> Attachment:
    """The .ics attachment of an interview's invitation, update (same ``uid``, higher ``sequence``) or
    cancellation (``method="CANCEL"``)."""
    # Imported here, not at module level: the API Lambda's cold start must not pay for it.
    from icalendar import Calendar, Event, vCalAddress, vText

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if sequence < 0:
        raise ValueError("sequence must not be negative")
    start, end = _utc(starts_at, "starts_at"), _utc(ends_at, "ends_at")
    if end <= start:
        raise ValueError("ends_at must be after starts_at")

    def address(person: CalendarAttendee) -> vCalAddress:
        value = vCalAddress(f"mailto:{person.email}")
        value.params["CN"] = vText(person.name)
        return value

    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", _utc(stamp, "stamp"))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("description", description)
    if location:
        event.add("location", location)
    event.add("organizer", address(organizer), encode=False)
    for person in attendees:
        attendee = address(person)
        attendee.params["ROLE"] = person.role
        attendee.params["PARTSTAT"] = "NEEDS-ACTION"
        attendee.params["RSVP"] = "TRUE"
        event.add("attendee", attendee, encode=False)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(event)
    return Attachment(filename="invite.ics", content_type=f"text/calendar; method={method}", content=calendar.to_ical().decode("utf-8"))
