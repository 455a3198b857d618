"""Time reporting: a consultant's days on an active engagement, periods submitted and confirmed or returned,
and the one invoice a confirmation makes, with the split every party sees."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.contracts import ContractParty, EngagementStatus, EngagementTerms, Pricing, RateChange
from chalicelib.domain.engagement_changes import ChangeParty, ChangeStatus, EngagementChange, ProposedTerms
from chalicelib.domain.ids import new_id
from chalicelib.domain.invoicing import SWEDISH_VAT_BPS, Invoice, InvoiceBreakdown, VatTreatment, round_half_up
from chalicelib.domain.timesheets import FULL_DAY, PeriodKind, PeriodStatus, TimeEntry, period_days, period_of
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.services import contracts, timesheets
from chalicelib.services.ports import Changes
from chalicelib.services.timesheets import TimesheetPorts
from tests.unit.test_contracts import Deal, make_deal

TODAY = date(2026, 11, 27)  # the fake clock's day


def active(pricing: Pricing = Pricing.HOURLY, period: PeriodKind = PeriodKind.MONTH) -> tuple[Deal, TimesheetPorts]:
    deal = make_deal()
    terms = dataclasses.replace(
        deal.engagement().terms,
        pricing=pricing,
        rate_minor=100_000 if pricing is Pricing.HOURLY else 800_000,
        start_date=date(2026, 10, 1),
        end_date=date(2027, 3, 31),
        reporting_period=period,
    )
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, terms)
    deal.send()
    deal.deliver()
    for party in ContractParty:
        for recipient in deal.envelope(party).recipients:
            deal.sign(party, deal.principal(recipient.user_id), recipient.email)
    deal.deliver()
    assert deal.engagement().status is EngagementStatus.ACTIVE
    return deal, TimesheetPorts(deal.ports, deal.scene.world.db)


@pytest.fixture
def hourly() -> tuple[Deal, TimesheetPorts]:
    return active()


def report(deal: Deal, ports: TimesheetPorts, day: date, minutes: int | None = 480, day_share: int | None = None) -> Any:
    consultant = deal.scene.consultants[0]
    return timesheets.report_time(
        ports, consultant, deal.engagement_id, day, minutes=minutes, day_share=day_share, description="Cluster work"
    )


def test_periods_are_calendar_months_or_iso_weeks() -> None:
    assert period_of(date(2026, 11, 27), PeriodKind.MONTH) == "2026-11"
    assert period_of(date(2026, 11, 27), PeriodKind.WEEK) == "2026-W48"
    assert period_of(date(2027, 1, 1), PeriodKind.WEEK) == "2026-W53"  # ISO weeks cross years
    assert period_days("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    assert period_days("2026-W48") == (date(2026, 11, 23), date(2026, 11, 29))
    with pytest.raises(ValueError):
        period_days("2026-13x")


def test_time_is_reported_per_day_inside_the_dates_never_ahead_and_replaces_the_days_report(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    report(deal, ports, date(2026, 10, 23), 420)
    report(deal, ports, date(2026, 10, 24), 480)
    report(deal, ports, date(2026, 10, 24), 360)  # an edit, not a second entry
    view = timesheets.get_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-10")
    assert [(e.day, e.minutes) for e in view.entries] == [(date(2026, 10, 23), 420), (date(2026, 10, 24), 360)]
    assert view.period is not None and (view.period.entries, view.period.minutes) == (2, 780)
    for day in (TODAY + timedelta(days=1), date(2026, 9, 30)):  # tomorrow; before the engagement
        with pytest.raises(InvalidInput):
            report(deal, ports, day)
    with pytest.raises(InvalidInput):  # a share of a day on an hourly engagement
        report(deal, ports, date(2026, 10, 25), minutes=None, day_share=100)
    timesheets.remove_time(ports, deal.scene.consultants[0], deal.engagement_id, date(2026, 10, 23))
    view = timesheets.get_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-10")
    assert view.period is not None and (view.period.entries, view.period.minutes) == (1, 360)


def test_only_the_consultant_reports_and_strangers_learn_nothing(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    with pytest.raises(Forbidden):
        timesheets.report_time(ports, deal.scene.agency_admin, deal.engagement_id, TODAY, minutes=60, day_share=None, description="x")
    with pytest.raises(NotFound):
        timesheets.report_time(ports, deal.scene.buyer, deal.engagement_id, TODAY, minutes=60, day_share=None, description="x")
    with pytest.raises(NotFound):
        timesheets.get_period(ports, deal.scene.buyer, deal.engagement_id, "2026-10")  # the client reads invoices, not time


def test_time_waits_for_both_signatures() -> None:
    deal = make_deal()
    ports = TimesheetPorts(deal.ports, deal.scene.world.db)
    with pytest.raises(Conflict):
        report(deal, ports, TODAY)


def test_a_submitted_period_is_frozen_until_returned_and_its_confirmation_makes_one_invoice(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    consultant, admin = deal.scene.consultants[0], deal.scene.agency_admin
    report(deal, ports, date(2026, 10, 23), 450)
    report(deal, ports, date(2026, 10, 24), 465)
    submitted = timesheets.submit_period(ports, consultant, deal.engagement_id, "2026-10")
    assert submitted.status is PeriodStatus.SUBMITTED
    assert [n.user_id for n in deal.notices("period_submitted")] == [admin.user_id]
    with pytest.raises(Conflict):
        report(deal, ports, date(2026, 10, 25), 60)
    returned = timesheets.return_period(ports, admin, deal.engagement_id, "2026-10", "The 24th was a holiday.")
    assert returned.status is PeriodStatus.OPEN and returned.return_comment == "The 24th was a holiday."
    timesheets.remove_time(ports, consultant, deal.engagement_id, date(2026, 10, 24))
    report(deal, ports, date(2026, 10, 25), 465)
    timesheets.submit_period(ports, consultant, deal.engagement_id, "2026-10")
    with pytest.raises(Forbidden):
        timesheets.confirm_period(ports, consultant, deal.engagement_id, "2026-10")
    period, invoice = timesheets.confirm_period(ports, admin, deal.engagement_id, "2026-10")
    assert period.status is PeriodStatus.CONFIRMED and period.invoice_id == invoice.invoice_id
    # 915 minutes at 1 000.00 SEK an hour: 15 250.00 SEK; 15 % commission; Swedish VAT on the net.
    b = invoice.breakdown
    assert (b.net_minor, b.commission_minor, b.agency_net_minor) == (1_525_000, 228_750, 1_296_250)
    assert (b.vat_rate_bps, b.vat_minor, b.total_minor, b.reverse_charge) == (SWEDISH_VAT_BPS, 381_250, 1_906_250, False)
    assert invoice.lines[0].quantity == "15.25 h" and invoice.source == "period:2026-10"
    _, same = timesheets.confirm_period(ports, admin, deal.engagement_id, "2026-10")
    assert same.invoice_id == invoice.invoice_id and len(deal.db._all("invoice")) == 1
    with pytest.raises(Conflict):
        timesheets.return_period(ports, admin, deal.engagement_id, "2026-10", "too late")
    # Every party reads the invoice and the same breakdown; strangers do not.
    for who in (deal.scene.buyer, admin, consultant, deal.scene.staff):
        assert timesheets.visible_invoice(ports, who, invoice.invoice_id).breakdown == b


def test_twenty_confirmations_at_once_make_one_invoice(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    report(deal, ports, date(2026, 10, 23), 480)
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-10")
    barrier = threading.Barrier(20)
    invoices: list[str] = []

    def confirm() -> None:
        barrier.wait()
        try:
            invoices.append(timesheets.confirm_period(ports, deal.scene.agency_admin, deal.engagement_id, "2026-10")[1].invoice_id)
        except Conflict:
            invoices.append("busy")

    threads = [threading.Thread(target=confirm) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(deal.db._all("invoice")) == 1
    assert {i for i in invoices if i != "busy"} == {deal.db._all("invoice")[0].invoice_id}


def test_a_submission_racing_an_edit_submits_the_edit_too(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    report(deal, ports, date(2026, 10, 23), 480)
    db, original = deal.db, deal.db.commit
    raced: list[Any] = []

    def edit_first(changes: Any) -> None:
        if not raced and any(getattr(e, "status", None) is PeriodStatus.SUBMITTED for e, _ in changes.writes):
            raced.append(report(deal, ports, date(2026, 10, 24), 120))
        original(changes)

    db.commit = edit_first
    try:
        submitted = timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-10")
    finally:
        db.commit = original
    assert raced and submitted.minutes == 600 and submitted.entries == 2


def test_daily_engagements_report_shares_of_days_in_iso_weeks() -> None:
    deal, ports = active(Pricing.DAILY, PeriodKind.WEEK)
    with pytest.raises(InvalidInput):
        report(deal, ports, date(2026, 10, 19), minutes=480)
    report(deal, ports, date(2026, 10, 19), minutes=None, day_share=100)
    report(deal, ports, date(2026, 10, 20), minutes=None, day_share=50)
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-W43")
    _, invoice = timesheets.confirm_period(ports, deal.scene.agency_admin, deal.engagement_id, "2026-W43")
    assert invoice.breakdown.net_minor == 1_200_000 and invoice.lines[0].quantity == "1.5 days"


@pytest.mark.parametrize(
    ("country", "vat_number", "expected"),
    [
        ("SE", "SE556677889901", VatTreatment(SWEDISH_VAT_BPS, False)),
        ("DE", "DE123456789", VatTreatment(0, True)),
        ("GR", "EL123456789", VatTreatment(0, True)),
        ("DE", None, VatTreatment(SWEDISH_VAT_BPS, False)),  # no VAT number: Swedish VAT
        ("DE", "FR123456789", VatTreatment(SWEDISH_VAT_BPS, False)),  # another country's number
        ("NO", None, VatTreatment(0, False)),  # outside the EU
    ],
)
def test_the_vat_follows_the_clients_country_and_vat_number(country: str, vat_number: str | None, expected: VatTreatment) -> None:
    assert VatTreatment.for_client(country, vat_number) == expected


@given(
    net=st.integers(min_value=0, max_value=10**12),
    commission_bps=st.integers(min_value=0, max_value=10_000),
    vat_bps=st.sampled_from([0, 600, 1200, 2500]),
    currency=st.sampled_from(["SEK", "EUR", "JPY"]),  # JPY: a zero-decimal currency, same integer arithmetic
)
def test_the_split_and_the_totals_add_up_exactly(net: int, commission_bps: int, vat_bps: int, currency: str) -> None:
    b = InvoiceBreakdown.of(net, currency, commission_bps, VatTreatment(vat_bps, vat_bps == 0))
    assert b.agency_net_minor + b.commission_minor == b.net_minor == net
    assert b.total_minor == b.net_minor + b.vat_minor
    assert 0 <= b.commission_minor <= net and b.vat_minor >= 0
    assert abs(b.vat_minor * 10_000 - net * vat_bps) <= 5_000  # one rounding, half up, of at most half a minor unit


def test_two_days_reported_at_once_both_count_in_the_periods_totals(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    report(deal, ports, date(2026, 10, 20), 60)  # the period exists: both writes below change it
    db, original = deal.db, deal.db.commit
    raced: list[Any] = []

    def other_day_first(changes: Any) -> None:
        if not raced:
            raced.append("racing")  # first: the racing report commits through here too
            report(deal, ports, date(2026, 10, 24), 120)
        original(changes)

    db.commit = other_day_first
    try:
        report(deal, ports, date(2026, 10, 23), 480)
    finally:
        db.commit = original
    period = db.get_period(deal.engagement_id, "2026-10")
    assert raced and (period.entries, period.minutes) == (3, 660)


def test_two_edits_of_the_same_day_leave_the_period_matching_its_entries(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    report(deal, ports, date(2026, 10, 23), 60)
    db, original_get = deal.db, deal.db.get_entry
    raced: list[str] = []

    def entry_after_another_edit(engagement_id: str, day: date) -> Any:
        # Between this request's reads, another request changes the same day.
        if not raced:
            raced.append("racing")
            report(deal, ports, date(2026, 10, 23), 120)
        return original_get(engagement_id, day)

    db.get_entry = entry_after_another_edit
    try:
        report(deal, ports, date(2026, 10, 23), 480)
    finally:
        db.get_entry = original_get
    period = db.get_period(deal.engagement_id, "2026-10")
    [entry] = db.list_entries(deal.engagement_id, date(2026, 10, 1), date(2026, 10, 31))
    assert raced and entry.minutes == period.minutes == 480 and period.entries == 1


def test_a_period_is_submitted_once_it_is_over_and_read_in_the_engagements_kind(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    consultant = deal.scene.consultants[0]
    report(deal, ports, date(2026, 11, 24), 60)
    with pytest.raises(Conflict):  # November is not over on the 27th: its last days could never be invoiced
        timesheets.submit_period(ports, consultant, deal.engagement_id, "2026-11")
    for wrong in ("2026-W48", "2026-13", "9999-W52"):
        with pytest.raises(InvalidInput):
            timesheets.get_period(ports, consultant, deal.engagement_id, wrong)


# --- the rate in force on each day ------------------------------------------------------------------------


def rate_changed(deal: Deal, effective_from: date, rate_minor: int) -> None:
    """The engagement's terms as a signed addendum leaves them (the change service's part, done directly)."""
    engagement = deal.engagement()
    terms = ProposedTerms(engagement.terms.end_date, rate_minor=rate_minor, effective_from=effective_from).applied_to(engagement.terms)
    changed = dataclasses.replace(engagement, terms=terms, revision=engagement.revision + 1)
    deal.db.commit(Changes().transition(changed, engagement.status.value, revision=engagement.revision))


def invoiced(deal: Deal, ports: TimesheetPorts, key: str) -> Invoice:
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, key)
    return timesheets.confirm_period(ports, deal.scene.agency_admin, deal.engagement_id, key)[1]


def lines_of(invoice: Invoice) -> list[tuple[str, str, int]]:
    return [(line.description.rsplit(", ", 1)[1], line.quantity, line.amount_minor) for line in invoice.lines]


def test_an_hourly_month_spanning_a_rate_change_has_a_line_per_rate(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    rate_changed(deal, date(2026, 10, 15), 150_000)
    report(deal, ports, date(2026, 10, 14), 450)
    report(deal, ports, date(2026, 10, 15), 470)
    report(deal, ports, date(2026, 10, 16), 1)
    invoice = invoiced(deal, ports, "2026-10")
    # 7.5 h at 1 000.00 SEK; 471 minutes at 1 500.00 SEK: 11 775.00 SEK.
    assert lines_of(invoice) == [
        ("2026-10-01 to 2026-10-14", "7.5 h", 750_000),
        ("2026-10-15 to 2026-10-31", "7.85 h", 1_177_500),
    ]
    b = invoice.breakdown
    assert (b.net_minor, b.commission_minor, b.agency_net_minor) == (1_927_500, 289_125, 1_638_375)


def test_a_daily_week_spanning_a_rate_change_has_a_line_per_rate_each_rounded_on_its_own() -> None:
    deal, ports = active(Pricing.DAILY, PeriodKind.WEEK)
    rate_changed(deal, date(2026, 10, 22), 1_000_003)
    for day, share in ((19, 100), (20, 50), (22, 100), (23, 25)):
        report(deal, ports, date(2026, 10, day), minutes=None, day_share=share)
    invoice = invoiced(deal, ports, "2026-W43")
    # 1.5 days at 8 000.00 SEK; 1.25 days at 10 000.03 SEK: 12 500.0375, rounded on its line.
    assert lines_of(invoice) == [
        ("2026-10-19 to 2026-10-21", "1.5 days", 1_200_000),
        ("2026-10-22 to 2026-10-25", "1.25 days", 1_250_004),
    ]
    assert invoice.breakdown.net_minor == 2_450_004


@pytest.mark.parametrize(
    ("effective_from", "rate_in_force"),
    [
        (date(2026, 11, 1), 100_000),  # the month is wholly before the change
        (date(2026, 10, 1), 150_000),  # from its first day: wholly after
        (date(2026, 9, 15), 150_000),
    ],
)
def test_a_period_at_one_rate_has_one_line_at_the_rate_in_force_without_reading_its_entries(
    hourly: tuple[Deal, TimesheetPorts], effective_from: date, rate_in_force: int
) -> None:
    deal, ports = hourly
    rate_changed(deal, effective_from, 150_000)
    report(deal, ports, date(2026, 10, 14), 450)
    report(deal, ports, date(2026, 10, 20), 90)
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-10")

    def unread(*_: Any) -> Any:
        raise AssertionError("the totals price a period at one rate")

    deal.db.list_entries = unread
    _, invoice = timesheets.confirm_period(ports, deal.scene.agency_admin, deal.engagement_id, "2026-10")
    assert lines_of(invoice) == [("2026-10-01 to 2026-10-31", "9 h", 9 * rate_in_force)]


def test_later_changes_add_stretches_and_one_from_the_same_day_replaces_it() -> None:
    deal, ports = active()
    rate_changed(deal, date(2026, 10, 10), 120_000)
    rate_changed(deal, date(2026, 10, 20), 150_000)
    for day in (9, 10, 19, 20, 31):
        report(deal, ports, date(2026, 10, day), 60)
    assert lines_of(invoiced(deal, ports, "2026-10")) == [
        ("2026-10-01 to 2026-10-09", "1 h", 100_000),
        ("2026-10-10 to 2026-10-19", "2 h", 240_000),
        ("2026-10-20 to 2026-10-31", "2 h", 300_000),
    ]
    rate_changed(deal, date(2026, 11, 2), 90_000)
    rate_changed(deal, date(2026, 11, 1), 110_000)  # agreed later, from an earlier day: the 90 000 still applies from its day
    rate_changed(deal, date(2026, 11, 3), 80_000)
    rate_changed(deal, date(2026, 11, 3), 70_000)  # agreed later, from the same day: the 80 000 is gone
    for day in (1, 2, 3):
        report(deal, ports, date(2026, 11, day), 60)
    deal.scene.world.clock.advance(days=4)
    assert lines_of(invoiced(deal, ports, "2026-11")) == [
        ("2026-11-01 to 2026-11-01", "1 h", 110_000),
        ("2026-11-02 to 2026-11-02", "1 h", 90_000),
        ("2026-11-03 to 2026-11-30", "1 h", 70_000),
    ]


def test_a_stretch_without_time_makes_no_line(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    rate_changed(deal, date(2026, 10, 15), 150_000)
    report(deal, ports, date(2026, 10, 20), 60)
    assert lines_of(invoiced(deal, ports, "2026-10")) == [("2026-10-15 to 2026-10-31", "1 h", 150_000)]


def test_entries_that_do_not_add_up_to_the_submitted_totals_invoice_nothing(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    rate_changed(deal, date(2026, 10, 15), 150_000)
    report(deal, ports, date(2026, 10, 20), 60)
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-10")
    key = ("time", deal.engagement_id, "2026-10-20")
    assert key in deal.db.items, "the fake's key of a time entry"
    deal.db.items[key] = dataclasses.replace(deal.db.items[key], minutes=61)  # broken data: no service writes this
    with pytest.raises(RuntimeError):
        timesheets.confirm_period(ports, deal.scene.agency_admin, deal.engagement_id, "2026-10")
    assert deal.db._all("invoice") == [] and deal.db.get_period(deal.engagement_id, "2026-10").status is PeriodStatus.SUBMITTED


def open_change(deal: Deal, status: ChangeStatus, effective_from: date, rate_minor: int = 150_000) -> EngagementChange:
    """A change of the rate, proposed or agreed (the change service's part, done directly)."""
    engagement, now = deal.engagement(), deal.scene.world.clock()
    proposed = ProposedTerms(engagement.terms.end_date, rate_minor=rate_minor, effective_from=effective_from)
    change = EngagementChange(
        new_id(), deal.engagement_id, deal.scene.buyer.user_id, ChangeParty.CLIENT, now, now, engagement.terms, proposed, "More scope"
    )
    change = dataclasses.replace(change, status=status)
    named = dataclasses.replace(engagement, open_change_id=change.change_id, revision=engagement.revision + 1)
    deal.db.commit(Changes().insert(change).transition(named, engagement.status.value, revision=engagement.revision))
    return change


def change_signed(deal: Deal, change: EngagementChange) -> None:
    engagement = deal.engagement()
    signed = dataclasses.replace(change, status=ChangeStatus.SIGNED, revision=change.revision + 1)
    changed = dataclasses.replace(engagement, terms=change.new_terms, open_change_id=None, revision=engagement.revision + 1)
    deal.db.commit(
        Changes()
        .transition(signed, change.status.value, revision=change.revision)
        .transition(changed, engagement.status.value, revision=engagement.revision)
    )


def test_a_period_waits_while_a_change_of_its_rate_is_signed(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    consultant, admin = deal.scene.consultants[0], deal.scene.agency_admin
    for day in (date(2026, 10, 20), date(2026, 11, 24), TODAY):
        report(deal, ports, day, 60)
    change = open_change(deal, ChangeStatus.SIGNING, TODAY)
    deal.scene.world.clock.advance(days=4)
    for key in ("2026-10", "2026-11"):
        timesheets.submit_period(ports, consultant, deal.engagement_id, key)
    with pytest.raises(Conflict) as refused:
        timesheets.confirm_period(ports, admin, deal.engagement_id, "2026-11")
    assert refused.value.current_state == "change_signing" and "from 2026-11-27 is being signed" in refused.value.detail
    assert deal.db._all("invoice") == [] and deal.db.get_period(deal.engagement_id, "2026-11").status is PeriodStatus.SUBMITTED
    _, october = timesheets.confirm_period(ports, admin, deal.engagement_id, "2026-10")  # its days are before the change
    assert lines_of(october) == [("2026-10-01 to 2026-10-31", "1 h", 100_000)]
    change_signed(deal, change)
    _, november = timesheets.confirm_period(ports, admin, deal.engagement_id, "2026-11")
    assert lines_of(november) == [("2026-11-01 to 2026-11-26", "1 h", 100_000), ("2026-11-27 to 2026-11-30", "1 h", 150_000)]


def test_a_change_only_proposed_does_not_hold_the_period_up(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    report(deal, ports, TODAY, 60)
    open_change(deal, ChangeStatus.PROPOSED, TODAY)
    deal.scene.world.clock.advance(days=4)
    assert lines_of(invoiced(deal, ports, "2026-11")) == [("2026-11-01 to 2026-11-30", "1 h", 100_000)]


def test_a_change_agreed_while_the_period_is_confirmed_holds_it_up(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    report(deal, ports, TODAY, 60)
    change = open_change(deal, ChangeStatus.PROPOSED, TODAY)
    deal.scene.world.clock.advance(days=4)
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-11")
    db, original = deal.db, deal.db.commit
    agreed: list[str] = []

    def agreed_first(changes: Any) -> None:
        # Between the confirmation's read of the change and its commit, the last party agrees.
        if not agreed and any(isinstance(e, Invoice) for e, _ in changes.writes):
            agreed.append("signing")
            signing = dataclasses.replace(change, status=ChangeStatus.SIGNING, revision=change.revision + 1)
            original(Changes().transition(signing, change.status.value, revision=change.revision))
        original(changes)

    db.commit = agreed_first
    try:
        with pytest.raises(Conflict) as refused:
            timesheets.confirm_period(ports, deal.scene.agency_admin, deal.engagement_id, "2026-11")
    finally:
        db.commit = original
    assert agreed and refused.value.current_state == "change_signing" and deal.db._all("invoice") == []


def test_an_addendum_signed_while_the_period_is_confirmed_prices_it(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    for day in (date(2026, 11, 24), TODAY):
        report(deal, ports, day, 60)
    change = open_change(deal, ChangeStatus.SIGNING, TODAY)
    deal.scene.world.clock.advance(days=4)
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-11")
    db, original = deal.db, deal.db.get_change
    signed: list[str] = []

    def signed_first(engagement_id: str, change_id: str) -> Any:
        # Between the confirmation's read of the engagement and of its change, the last signature lands.
        if not signed:
            signed.append("signed")
            change_signed(deal, change)
        return original(engagement_id, change_id)

    db.get_change = signed_first
    try:
        _, invoice = timesheets.confirm_period(ports, deal.scene.agency_admin, deal.engagement_id, "2026-11")
    finally:
        db.get_change = original
    assert signed and lines_of(invoice) == [("2026-11-01 to 2026-11-26", "1 h", 100_000), ("2026-11-27 to 2026-11-30", "1 h", 150_000)]


def test_the_periods_a_change_from_a_day_would_re_price(hourly: tuple[Deal, TimesheetPorts]) -> None:
    deal, ports = hourly
    for day in (date(2026, 10, 20), date(2026, 11, 24)):
        report(deal, ports, day, 60)
    invoiced(deal, ports, "2026-10")
    deal.scene.world.clock.advance(days=4)
    timesheets.submit_period(ports, deal.scene.consultants[0], deal.engagement_id, "2026-11")  # submitted, not invoiced

    def invoiced_from(day: date) -> list[str]:
        return timesheets.periods_invoiced_from(ports.timesheets, deal.engagement_id, day)

    assert invoiced_from(date(2026, 9, 1)) == invoiced_from(date(2026, 10, 31)) == ["2026-10"]
    assert invoiced_from(date(2026, 11, 1)) == []


OCTOBER = period_days("2026-10")
TERMS = EngagementTerms(Pricing.HOURLY, "SEK", 1500, date(2026, 1, 1), date(2027, 12, 31), 100, "Scope", rate_minor=100_000)


@st.composite
def rates_by_day(draw: st.DrawFn) -> tuple[int, tuple[RateChange, ...]]:
    """A rate and its changes around October, each another rate than the one before (as addenda leave them)."""
    days = draw(st.lists(st.integers(-10, 40), unique=True, max_size=4).map(sorted))
    rates = [draw(st.integers(1, 10**7))]
    for _ in days:
        rates.append(draw(st.integers(1, 10**7).filter(lambda r: r != rates[-1])))
    return rates[0], tuple(RateChange(OCTOBER[0] + timedelta(days=d), r) for d, r in zip(days, rates[1:], strict=True))


@given(
    pricing=st.sampled_from([Pricing.HOURLY, Pricing.DAILY]),
    rates=rates_by_day(),
    amounts=st.dictionaries(st.integers(0, 30), st.integers(1, FULL_DAY), min_size=1),
)
def test_each_stretch_is_rounded_on_its_own_and_one_rate_prices_as_a_single_line(
    pricing: Pricing, rates: tuple[int, tuple[RateChange, ...]], amounts: dict[int, int]
) -> None:
    rate, changes = rates
    terms = dataclasses.replace(TERMS, pricing=pricing, rate_minor=rate, rate_changes=changes)
    per = 60 if pricing is Pricing.HOURLY else FULL_DAY
    at = datetime(2026, 11, 1, tzinfo=UTC)
    entries = [
        TimeEntry("e", OCTOBER[0] + timedelta(days=d), "c", "x", at, **{"minutes" if pricing is Pricing.HOURLY else "day_share": n})
        for d, n in sorted(amounts.items())
    ]
    lines = timesheets.lines_per_rate("T", pricing, timesheets.rate_stretches(terms, *OCTOBER), entries)
    # The stretches from the changes' days, independently of how the service finds them.
    starts = [OCTOBER[0], *(c.effective_from for c in changes if OCTOBER[0] < c.effective_from <= OCTOBER[1])]
    ends = [*(day - timedelta(days=1) for day in starts[1:]), OCTOBER[1]]
    units = [
        sum(n for d, n in amounts.items() if first <= OCTOBER[0] + timedelta(days=d) <= last)
        for first, last in zip(starts, ends, strict=True)
    ]
    expected = [round_half_up(u * terms.rate_on(first), per) for first, u in zip(starts, units, strict=True) if u]
    assert [line.amount_minor for line in lines] == expected
    if len(starts) == 1:
        assert sum(expected) == round_half_up(sum(amounts.values()) * terms.rate_on(OCTOBER[0]), per)
