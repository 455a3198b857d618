"""Time reporting: the consultant reports time per day on an active hourly or daily engagement, submits
a period, and the agency confirms it (which records the invoice, exactly once) or returns it with a comment.
After the engagement ended, its days (up to its last one) are still reported, submitted and confirmed.

Every write of an entry also writes its period, conditional on the period's revision: a submission
racing an edit is refused or lands before it, never beside it. The confirmation moves the period from
submitted to confirmed and inserts the invoice in one transaction, so twenty confirmations at once make
one invoice; the others read the confirmed period and answer with the same invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import groupby

from chalicelib.domain.accounts import User
from chalicelib.domain.contracts import Engagement, EngagementTerms, Pricing
from chalicelib.domain.engagement_changes import EngagementChange
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import new_id
from chalicelib.domain.invoicing import Invoice, InvoiceBreakdown, InvoiceLineItem, VatTreatment, round_half_up
from chalicelib.domain.money import format_amount
from chalicelib.domain.timesheets import FULL_DAY, Period, PeriodStatus, TimeEntry, period_days, period_of
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from chalicelib.services.candidacies import ATTEMPTS, agency_admins
from chalicelib.services.contracts import ContractPorts, change_being_signed, sees_engagement
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes, TimesheetRepository


@dataclass(frozen=True)
class TimesheetPorts:
    contracts: ContractPorts
    timesheets: TimesheetRepository

    @property
    def now(self) -> datetime:
        return self.contracts.now

    def commit(self, changes: Changes) -> None:
        self.contracts.commit(changes)


# --- who may do what --------------------------------------------------------------------------------------


def _engagement(ports: TimesheetPorts, principal: Principal, engagement_id: str) -> Engagement:
    engagement = ports.contracts.engagements.get_engagement(engagement_id)
    if engagement is None or not sees_engagement(principal, engagement):
        raise NotFound("Engagement not found.")
    return engagement


def _reads_time(principal: Principal, engagement: Engagement) -> bool:
    """The consultant, the agency's admins and staff read the time reported (the client reads invoices)."""
    return principal.is_staff or principal.user_id == engagement.consultant_id or principal.administers(engagement.agency_id)


def _as_consultant(ports: TimesheetPorts, principal: Principal, engagement_id: str) -> Engagement:
    engagement = _engagement(ports, principal, engagement_id)
    if principal.user_id != engagement.consultant_id:
        _refuse(principal, engagement, "Only the consultant reports and submits time.")
    return engagement


def _as_agency(ports: TimesheetPorts, principal: Principal, engagement_id: str) -> Engagement:
    engagement = _engagement(ports, principal, engagement_id)
    if not principal.administers(engagement.agency_id):
        _refuse(principal, engagement, "Only the agency's admins confirm or return time.")
    return engagement


def _refuse(principal: Principal, engagement: Engagement, detail: str) -> None:
    """Those who read the time learn why they may not act on it (403); anyone else learns nothing (404)."""
    if _reads_time(principal, engagement):
        raise Forbidden(detail)
    raise NotFound("Engagement not found.")


def _ensure_reported_by_time(engagement: Engagement) -> None:
    if not engagement.reports_time:
        raise Conflict(
            "Time is reported on an active engagement (both contracts signed), or for its days once it ended.",
            current_state=engagement.status.value,
        )
    if engagement.terms.pricing is Pricing.FIXED:
        raise Conflict("A fixed-fee engagement is invoiced by its milestones, not by time.")


# --- reporting --------------------------------------------------------------------------------------------


def report_time(
    ports: TimesheetPorts,
    principal: Principal,
    engagement_id: str,
    day: date,
    *,
    minutes: int | None,
    day_share: int | None,
    description: str,
) -> TimeEntry:
    """The consultant's time for one day (a second report of the same day replaces the first): minutes on
    an hourly engagement, a share of the day on a daily one; inside the engagement's dates (to its last day,
    also after it ended), never in the future, while the day's period is open."""
    engagement = _as_consultant(ports, principal, engagement_id)
    _ensure_reported_by_time(engagement)
    terms = engagement.terms
    if terms.pricing is Pricing.HOURLY and (minutes is None or day_share is not None):
        raise InvalidInput("Report minutes on an hourly engagement.", issues=[FieldIssue("minutes", "required")])
    if terms.pricing is Pricing.DAILY and (day_share is None or minutes is not None):
        raise InvalidInput("Report a share of the day on a daily engagement.", issues=[FieldIssue("day_share", "required")])
    if not terms.start_date <= day <= engagement.last_day:
        raise InvalidInput("The day is outside the engagement's dates.", issues=[FieldIssue("day", "outside the engagement")])
    if day > ports.now.date():
        raise InvalidInput("Time is reported for days that have begun, not in advance.", issues=[FieldIssue("day", "in the future")])
    for _ in range(ATTEMPTS):
        now = ports.now
        entry = TimeEntry(engagement_id, day, principal.user_id, description, now, minutes=minutes, day_share=day_share)
        changes, before = _entry_change(ports, engagement, day, entry, now)
        changes.update(entry) if before is not None else changes.insert(entry)
        _ensure_before_early_end(ports, engagement_id, day, changes)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return entry
    raise Conflict("The period is being changed by someone else; try again.")


def _ensure_before_early_end(ports: TimesheetPorts, engagement_id: str, day: date, changes: Changes) -> None:
    """A day after an early end being signed is not reported (409). Under an early end still open otherwise,
    the entry's write carries the change with its next revision, so that agreeing to it, or sending its
    addenda, which first check that no time is reported after it, cannot race this entry past that check."""
    engagement = ports.contracts.engagements.get_engagement(engagement_id)  # as it is now: its open change may be new
    assert engagement is not None, "an engagement is never deleted"
    change = (
        ports.contracts.engagements.get_change(engagement.engagement_id, engagement.open_change_id) if engagement.open_change_id else None
    )
    if change is None or not change.is_open or day <= change.proposed.end_date:
        return
    if change_being_signed(ports.contracts, engagement) is not None:
        raise Conflict(
            f"An early end on {change.proposed.end_date.isoformat()} is being signed; report this day once it is signed or withdrawn.",
            current_state="change_signing",
        )
    changes.transition(replace(change, revision=change.revision + 1), change.status.value, revision=change.revision)


def remove_time(ports: TimesheetPorts, principal: Principal, engagement_id: str, day: date) -> None:
    engagement = _as_consultant(ports, principal, engagement_id)
    for _ in range(ATTEMPTS):
        changes, before = _entry_change(ports, engagement, day, None, ports.now)
        if before is None:
            raise NotFound("No time is reported for that day.")
        changes.delete(before)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return
    raise Conflict("The period is being changed by someone else; try again.")


def _entry_change(
    ports: TimesheetPorts, engagement: Engagement, day: date, after: TimeEntry | None, now: datetime
) -> tuple[Changes, TimeEntry | None]:
    """The change of the day's period that every entry write carries (the period is made with the first
    entry), and the entry as it is. The period is read *before* the entry: any write of the entry since
    then has moved the period's revision, so a commit on what was read here cannot lose it."""
    key = period_of(day, engagement.terms.reporting_period)
    period = ports.timesheets.get_period(engagement.engagement_id, key)
    before = ports.timesheets.get_entry(engagement.engagement_id, day)
    if period is None:
        kind = engagement.terms.reporting_period
        fresh = Period(engagement.engagement_id, key, kind, engagement.agency_id, engagement.consultant_id, now, now)
        return Changes().insert(fresh.with_entry(before, after, now)), before
    changed = period.with_entry(before, after, now)
    return Changes().transition(changed, period.status.value, revision=period.revision), before


# --- the period's way to an invoice -----------------------------------------------------------------------


def submit_period(ports: TimesheetPorts, principal: Principal, engagement_id: str, key: str) -> Period:
    engagement = _as_consultant(ports, principal, engagement_id)
    _ensure_reported_by_time(engagement)
    for _ in range(ATTEMPTS):
        period = _period(ports, engagement, key)
        if period.status is PeriodStatus.SUBMITTED:
            return period  # a double click
        period.ensure_open()
        if period.entries == 0:
            raise Conflict("There is no time to submit in this period.")
        last_day = min(period_days(key)[1], engagement.last_day)
        if last_day > ports.now.date():
            # A period submitted early would shut out its remaining days: they could never be invoiced.
            raise Conflict(f"The period can be submitted from {last_day.isoformat()}, its last day.")
        now = ports.now
        submitted = replace(period, status=PeriodStatus.SUBMITTED, submitted_at=now, revision=period.revision + 1, updated_at=now)
        changes = Changes().transition(submitted, period.status.value, revision=period.revision)
        params = _period_params(ports, engagement, submitted)
        for admin in _agency_admins(ports, engagement):
            notify(
                changes,
                admin,
                "period_submitted",
                {**params, "recipient_name": admin.name},
                now,
                object_type="engagement",
                object_id=engagement_id,
            )
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return submitted
    raise Conflict("The period is being changed by someone else; try again.")


def confirm_period(ports: TimesheetPorts, principal: Principal, engagement_id: str, key: str) -> tuple[Period, Invoice]:
    """The agency confirms a submitted period: the invoice is recorded with it, exactly once. Confirming
    again answers with the same invoice. While a change of the rate of its days is being signed, it waits."""
    for _ in range(ATTEMPTS):
        engagement = _as_agency(ports, principal, engagement_id)  # each attempt: its terms price the period
        period = _period(ports, engagement, key)
        if period.status is PeriodStatus.CONFIRMED and period.invoice_id:
            invoice = ports.timesheets.get_invoice(period.invoice_id)
            assert invoice is not None, "the invoice is inserted with the confirmation"
            return period, invoice
        if period.status is not PeriodStatus.SUBMITTED:
            raise Conflict(f"The period {key} is {period.status.value}; it is confirmed once submitted.", current_state=period.status.value)
        change = _open_rate_change(ports, engagement, period_days(key)[1])
        if change is not None and change_being_signed(ports.contracts, engagement) is not None:
            # Agreed by all three and out for signature: the period's rate is settled once its addenda are
            # signed or withdrawn (one not sent, or ended unsigned, holds nothing: it is sent again only if
            # no time from its day is invoiced by then).
            raise Conflict(
                f"A change of the rate from {change.proposed.effective_from} is being signed; "
                "confirm this period once it is signed or withdrawn.",
                current_state="change_signing",
            )
        now = ports.now
        invoice = _period_invoice(ports, engagement, period, principal, now)
        confirmed = replace(
            period,
            status=PeriodStatus.CONFIRMED,
            confirmed_at=now,
            confirmed_by=principal.user_id,
            invoice_id=invoice.invoice_id,
            revision=period.revision + 1,
            updated_at=now,
        )
        changes = Changes().transition(confirmed, period.status.value, revision=period.revision).insert(invoice)
        # Priced at the engagement as read: an addendum signed meanwhile fails this commit, and the retry
        # prices the period at its rate; moved on, the revision in turn fails a write of terms read before.
        changes.transition(replace(engagement, revision=engagement.revision + 1), engagement.status.value, revision=engagement.revision)
        if change is not None:
            # A change not out for signature does not hold the invoice up: agreeing to it (or sending its
            # addenda) is refused once this period is invoiced (periods_invoiced_from). Written here with the
            # next revision, so that an agreement or a send racing this commit fails one of the two.
            changes.transition(replace(change, revision=change.revision + 1), change.status.value, revision=change.revision)
        consultant = ports.contracts.users(engagement.consultant_id)
        if consultant is not None:
            params = {**_period_params(ports, engagement, confirmed), "recipient_name": consultant.name, "total": _total(invoice)}
            notify(changes, consultant, "period_confirmed", params, now, object_type="engagement", object_id=engagement_id)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue  # confirmed by a concurrent request: read again, and answer with its invoice
        return confirmed, invoice
    raise Conflict("The period is being changed by someone else; try again.")


def return_period(ports: TimesheetPorts, principal: Principal, engagement_id: str, key: str, comment: str) -> Period:
    """The agency sends a submitted period back to the consultant, saying what to correct."""
    engagement = _as_agency(ports, principal, engagement_id)
    for _ in range(ATTEMPTS):
        period = _period(ports, engagement, key)
        if period.status is not PeriodStatus.SUBMITTED:
            raise Conflict(
                f"The period {key} is {period.status.value}; only a submitted one is returned.", current_state=period.status.value
            )
        now = ports.now
        returned = replace(
            period,
            status=PeriodStatus.OPEN,
            returned_at=now,
            returned_by=principal.user_id,
            return_comment=comment,
            revision=period.revision + 1,
            updated_at=now,
        )
        changes = Changes().transition(returned, period.status.value, revision=period.revision)
        consultant = ports.contracts.users(engagement.consultant_id)
        if consultant is not None:
            params = {**_period_params(ports, engagement, returned), "recipient_name": consultant.name, "comment": comment}
            notify(changes, consultant, "period_returned", params, now, object_type="engagement", object_id=engagement_id)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return returned
    raise Conflict("The period is being changed by someone else; try again.")


def _open_rate_change(ports: TimesheetPorts, engagement: Engagement, last_day: date) -> EngagementChange | None:
    """The engagement's open change, when it sets a rate from ``last_day`` or before."""
    if engagement.open_change_id is None:
        return None
    change = ports.contracts.engagements.get_change(engagement.engagement_id, engagement.open_change_id)
    if change is None or not change.is_open or change.proposed.rate_minor is None:
        return None
    effective_from = change.proposed.effective_from
    return change if effective_from is not None and effective_from <= last_day else None


def _period_invoice(ports: TimesheetPorts, engagement: Engagement, period: Period, principal: Principal, now: datetime) -> Invoice:
    """The invoice of a period, split once: a line per stretch of days at one rate (so that the provider's
    VAT on each line is the VAT computed here). The entries are read only when the rate changes inside the
    period; otherwise its totals price it."""
    terms = engagement.terms
    title = _assignment_title(ports, engagement)
    first, last = period_days(period.key)
    stretches = rate_stretches(terms, first, last)
    lines: tuple[InvoiceLineItem, ...]
    if len(stretches) == 1:
        lines = (_line(title, terms.pricing, stretches[0], period.minutes, period.day_shares),)
    else:
        entries = ports.timesheets.list_entries(engagement.engagement_id, first, last)
        _ensure_entries_add_up(period, entries)
        lines = lines_per_rate(title, terms.pricing, stretches, entries)
    return new_invoice(ports, engagement, f"period:{period.key}", lines, principal.user_id, now)


@dataclass(frozen=True)
class RateStretch:
    """Consecutive days at one rate."""

    first: date
    last: date
    rate_minor: int


def rate_stretches(terms: EngagementTerms, first: date, last: date) -> list[RateStretch]:
    """The days from ``first`` to ``last`` in stretches at one rate (the rate in force each day), in day order."""
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    runs = ([*run] for _, run in groupby(days, terms.rate_on))
    return [RateStretch(run[0], run[-1], terms.rate_on(run[0])) for run in runs]


def lines_per_rate(title: str, pricing: Pricing, stretches: list[RateStretch], entries: list[TimeEntry]) -> tuple[InvoiceLineItem, ...]:
    """A line per stretch with time in it, each rounded on its own. A stretch without time makes no line:
    the client has nothing to read on a line of nothing."""
    lines = []
    for stretch in stretches:
        inside = [e for e in entries if stretch.first <= e.day <= stretch.last]
        if inside:
            minutes, day_shares = sum(e.minutes or 0 for e in inside), sum(e.day_share or 0 for e in inside)
            lines.append(_line(title, pricing, stretch, minutes, day_shares))
    return tuple(lines)


def _line(title: str, pricing: Pricing, stretch: RateStretch, minutes: int, day_shares: int) -> InvoiceLineItem:
    if pricing is Pricing.HOURLY:
        net, quantity = round_half_up(minutes * stretch.rate_minor, 60), f"{minutes / 60:g} h"
    else:
        net, quantity = round_half_up(day_shares * stretch.rate_minor, FULL_DAY), f"{day_shares / FULL_DAY:g} days"
    return InvoiceLineItem(f"{title}, {stretch.first.isoformat()} to {stretch.last.isoformat()}", quantity, net)


def _ensure_entries_add_up(period: Period, entries: list[TimeEntry]) -> None:
    """A submitted period's entries cannot change (every entry write is conditional on its period being open
    at the revision read) and are read consistently, so entries that do not add up to its totals are broken
    data: no race to retry, nothing the agency can fix. Billing either figure would bill an amount
    nobody can vouch for, so nothing is invoiced and the error (a 500) is ours to look into. Raised, not
    asserted: money must not depend on assertions being on."""
    found = (len(entries), sum(e.minutes or 0 for e in entries), sum(e.day_share or 0 for e in entries))
    if found != (period.entries, period.minutes, period.day_shares):
        raise RuntimeError(f"the entries of period {period.key} of engagement {period.engagement_id} do not add up to its totals")


def new_invoice(
    ports: TimesheetPorts, engagement: Engagement, source: str, lines: tuple[InvoiceLineItem, ...], by: str, now: datetime
) -> Invoice:
    """An invoice to the engagement's client for ``lines``: the split at the engagement's commission, the VAT
    the client's country and VAT number call for (as they are now), due after the engagement's payment terms."""
    terms = engagement.terms
    client = ports.contracts.candidacies.assignments.accounts.accounts.get_organisation(engagement.client_id)
    vat = VatTreatment.for_client(client.country if client else "SE", client.vat_number if client else None)
    return Invoice(
        invoice_id=new_id(),
        engagement_id=engagement.engagement_id,
        client_id=engagement.client_id,
        agency_id=engagement.agency_id,
        consultant_id=engagement.consultant_id,
        source=source,
        lines=lines,
        breakdown=InvoiceBreakdown.of(sum(line.amount_minor for line in lines), terms.currency, terms.commission_bps, vat),
        days_until_due=terms.payment_terms_days,
        created_at=now,
        created_by=by,
    )


# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodView:
    period: Period | None  # None: nothing reported yet
    key: str
    entries: list[TimeEntry]


def get_period(ports: TimesheetPorts, principal: Principal, engagement_id: str, key: str) -> PeriodView:
    engagement = _engagement(ports, principal, engagement_id)
    if not _reads_time(principal, engagement):
        raise NotFound("Engagement not found.")
    first, last = _days_of(key, engagement)
    return PeriodView(ports.timesheets.get_period(engagement_id, key), key, ports.timesheets.list_entries(engagement_id, first, last))


def list_periods(ports: TimesheetPorts, principal: Principal, engagement_id: str) -> list[Period]:
    engagement = _engagement(ports, principal, engagement_id)
    if not _reads_time(principal, engagement):
        raise NotFound("Engagement not found.")
    return ports.timesheets.list_periods(engagement_id)


def periods_to_confirm(ports: TimesheetPorts, principal: Principal, agency_id: str) -> list[Period]:
    if not (principal.administers(agency_id) or principal.is_staff):
        raise NotFound("Agency not found.")
    return ports.timesheets.list_agency_periods(agency_id, PeriodStatus.SUBMITTED)


def visible_invoice(ports: TimesheetPorts, principal: Principal, invoice_id: str) -> Invoice:
    """Every party reads an invoice and the same breakdown: the client's users, the agency's admins, the
    consultant and staff."""
    invoice = ports.timesheets.get_invoice(invoice_id)
    engagement = ports.contracts.engagements.get_engagement(invoice.engagement_id) if invoice else None
    if invoice is None or engagement is None or not sees_engagement(principal, engagement):
        raise NotFound("Invoice not found.")
    return invoice


def engagement_invoices(ports: TimesheetPorts, principal: Principal, engagement_id: str) -> list[Invoice]:
    _engagement(ports, principal, engagement_id)
    return ports.timesheets.list_engagement_invoices(engagement_id)


def periods_invoiced_from(timesheets: TimesheetRepository, engagement_id: str, day: date) -> list[str]:
    """The keys of the engagement's confirmed (invoiced) periods with days on or after ``day``: a change of
    the rate from ``day`` would re-price time already invoiced (for the change service, before it agrees)."""
    invoiced = (p for p in timesheets.list_periods(engagement_id) if p.status is PeriodStatus.CONFIRMED)
    return [p.key for p in invoiced if period_days(p.key)[1] >= day]


# --- helpers ----------------------------------------------------------------------------------------------


def _days_of(key: str, engagement: Engagement) -> tuple[date, date]:
    """The days of the period ``key``, which must be of the engagement's kind (months or weeks)."""
    try:
        days = period_days(key)
    except (ValueError, OverflowError):
        raise InvalidInput("A period is a month (2026-11) or an ISO week (2026-W48).", issues=[FieldIssue("period", "invalid")]) from None
    if period_of(days[0], engagement.terms.reporting_period) != key:
        kind = engagement.terms.reporting_period.value
        raise InvalidInput(f"This engagement's time is gathered per {kind}.", issues=[FieldIssue("period", f"not a {kind}")])
    return days


def _period(ports: TimesheetPorts, engagement: Engagement, key: str) -> Period:
    _days_of(key, engagement)
    period = ports.timesheets.get_period(engagement.engagement_id, key)
    if period is None:
        raise NotFound("Nothing is reported in that period.")
    return period


def _agency_admins(ports: TimesheetPorts, engagement: Engagement) -> list[User]:
    return agency_admins(ports.contracts.candidacies.assignments.accounts.accounts, engagement.agency_id)


def _assignment_title(ports: TimesheetPorts, engagement: Engagement) -> str:
    assignment = ports.contracts.candidacies.assignments.assignments.get_assignment(engagement.assignment_id)
    return assignment.title if assignment else ""


def _period_params(ports: TimesheetPorts, engagement: Engagement, period: Period) -> dict[str, str]:
    consultant = ports.contracts.users(engagement.consultant_id)
    return {
        "assignment_title": _assignment_title(ports, engagement),
        "consultant_name": consultant.name if consultant else "",
        "period": period.key,
        "link": f"{ports.contracts.candidacies.assignments.accounts.web_base_url}/engagements/{engagement.engagement_id}/time",
    }


def _total(invoice: Invoice) -> str:
    return format_amount(invoice.breakdown.total_minor, invoice.breakdown.currency)
