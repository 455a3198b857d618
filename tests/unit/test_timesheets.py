"""Time reporting: a consultant's days on an active engagement, periods submitted and confirmed or returned,
and the one invoice a confirmation makes, with the split every party sees."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.contracts import ContractParty, EngagementStatus, Pricing
from chalicelib.domain.invoicing import SWEDISH_VAT_BPS, InvoiceBreakdown, VatTreatment
from chalicelib.domain.timesheets import PeriodKind, PeriodStatus, period_days, period_of
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.services import contracts, timesheets
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
