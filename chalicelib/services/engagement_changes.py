"""Changes to an active engagement (``domain/engagement_changes.py``): proposed by a party, agreed by all
three, put in writing as an addendum to each contract, and applied to the engagement's terms once both
addenda are signed.

The engagement names its one open change, so proposing is a revision-checked write of the engagement;
answers and sends are revision-checked writes of the change. Addenda go through the contracts' signature
flow (``services/contracts.py``): the same providers, webhooks, reconciliation, evidence and retention;
a signed addendum's webhook lands in ``follow_addendum``. The platform signs by the consultant's Consultant
Agent (any active staff member if the agent is gone), or by the staff member who sends them again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.contracts import (
    ENDED,
    UNSIGNED_ENDS,
    Contract,
    ContractParty,
    ContractStatus,
    Engagement,
    EngagementStatus,
    EngagementTerms,
)
from chalicelib.domain.engagement_changes import ChangeAnswer, ChangeParty, ChangeStatus, EngagementChange, ProposedTerms
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import new_id
from chalicelib.domain.money import format_amount
from chalicelib.errors import ConcurrencyConflict, Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.logging import log_failure, logger
from chalicelib.services.candidacies import ATTEMPTS, active_staff, agency_admins, client_recipients
from chalicelib.services.contracts import (
    ContractPorts,
    alert_unsigned,
    change_being_signed,
    contract_reference,
    document_contract,
    document_parties,
    engagement_busy,
    engagement_params,
    reference_of,
    sees_contract,
    sees_engagement,
    send_for_signature,
    tell_everyone,
    terms_digest,
    void_outstanding,
)
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes, TimesheetRepository
from chalicelib.services.timesheets import periods_invoiced_from

WITHDRAWN_REASON = "The change was withdrawn."
LAPSED_REASON = "The engagement ended first."


@dataclass(frozen=True)
class ChangePorts:
    contracts: ContractPorts
    timesheets: TimesheetRepository

    @property
    def now(self) -> datetime:
        return self.contracts.now

    def commit(self, changes: Changes) -> None:
        self.contracts.commit(changes)


# --- who is who -------------------------------------------------------------------------------------------


def parties_of(principal: Principal, engagement: Engagement) -> frozenset[ChangeParty]:
    """The parties the caller speaks for (an independent consultant administers their own agency)."""
    found = set()
    if principal.has(Role.CLIENT) and principal.org_id == engagement.client_id:
        found.add(ChangeParty.CLIENT)
    if principal.administers(engagement.agency_id):
        found.add(ChangeParty.AGENCY)
    if principal.user_id == engagement.consultant_id:
        found.add(ChangeParty.CONSULTANT)
    return frozenset(found)


def _engagement(ports: ChangePorts, principal: Principal, engagement_id: str) -> Engagement:
    engagement = ports.contracts.engagements.get_engagement(engagement_id)
    if engagement is None or not sees_engagement(principal, engagement):
        raise NotFound("Engagement not found.")
    return engagement


def _change(ports: ChangePorts, principal: Principal, engagement_id: str, change_id: str) -> tuple[Engagement, EngagementChange]:
    engagement = _engagement(ports, principal, engagement_id)
    change = ports.contracts.engagements.get_change(engagement_id, change_id)
    if change is None:
        raise NotFound("Change not found.")
    return engagement, change


def _speaking_for(principal: Principal, engagement: Engagement) -> frozenset[ChangeParty]:
    parties = parties_of(principal, engagement)
    if not parties:
        raise Forbidden("Only the client, the agency and the consultant propose and answer changes.")
    return parties


# --- reading ----------------------------------------------------------------------------------------------


def list_changes(ports: ChangePorts, principal: Principal, engagement_id: str) -> list[EngagementChange]:
    """Everyone who sees the engagement sees its changes: the terms are the same for all its parties."""
    _engagement(ports, principal, engagement_id)
    return ports.contracts.engagements.list_changes(engagement_id)


def get_change(ports: ChangePorts, principal: Principal, engagement_id: str, change_id: str) -> EngagementChange:
    return _change(ports, principal, engagement_id, change_id)[1]


def visible_addenda(ports: ChangePorts, principal: Principal, engagement: Engagement, change: EngagementChange) -> list[Contract]:
    """The change's current addenda the caller is a party to (as for contracts: staff and the counterparty)."""
    found = (ports.contracts.engagements.get_contract(engagement.engagement_id, c) for c in change.addenda.values())
    return [c for c in found if c is not None and sees_contract(principal, engagement, c)]


# --- proposing and answering ------------------------------------------------------------------------------


def propose_change(ports: ChangePorts, principal: Principal, engagement_id: str, proposed: ProposedTerms, reason: str) -> EngagementChange:
    """A party proposes a new end date (and extent or rate from a day). The other parties are asked."""
    parties = _speaking_for(principal, _engagement(ports, principal, engagement_id))
    for _ in range(ATTEMPTS):
        engagement = _engagement(ports, principal, engagement_id)
        if engagement.status is not EngagementStatus.ACTIVE:
            raise Conflict("Only an active engagement is changed.", current_state=engagement.status.value)
        if engagement.open_change_id is not None:
            raise Conflict("A change of this engagement is open; it is answered or withdrawn first.", current_state="change_open")
        now = ports.now
        issues = proposed.issues(engagement.terms, now.date())
        if issues:
            raise InvalidInput("The change does not fit this engagement.", issues=issues)
        _ensure_time_fits(ports, engagement, proposed)
        change = EngagementChange(
            change_id=new_id(),
            engagement_id=engagement_id,
            proposed_by=principal.user_id,
            proposed_as=min(parties),  # a deterministic one, should the caller speak for two
            proposed_at=now,
            updated_at=now,
            previous=engagement.terms,
            proposed=proposed,
            reason=reason,
        )
        for party in sorted(parties):
            change = change.answered(party, ChangeAnswer(True, principal.user_id, now), now)
        change = replace(change, revision=0)
        changes = Changes().insert(change)
        opened = replace(engagement, open_change_id=change.change_id, revision=engagement.revision + 1, updated_at=now)
        changes.transition(opened, engagement.status.value, revision=engagement.revision)
        _ask(ports, engagement, change, changes, now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        logger.info("engagement change proposed", extra={"engagement_id": engagement_id, "change_id": change.change_id})
        return _after_agreement(ports, change)
    raise engagement_busy()


def answer_change(
    ports: ChangePorts, principal: Principal, engagement_id: str, change_id: str, *, agree: bool, reason: str | None = None
) -> EngagementChange:
    """The caller's party agrees or declines. When the last party agrees, the addenda are made and sent. The
    same answer again is a replay: it answers with the change (and sends addenda a failed send left)."""
    for _ in range(ATTEMPTS):
        engagement, change = _change(ports, principal, engagement_id, change_id)
        parties = _speaking_for(principal, engagement)
        pending = parties & change.waiting_for
        if not pending:
            if all(change.answers[p].agreed == agree for p in parties):
                return _after_agreement(ports, change)  # a replay: sends what a failed send left, nothing more
            raise Conflict("You answered this change otherwise.", current_state=change.status.value)
        if change.status is not ChangeStatus.PROPOSED:
            raise Conflict(f"The change is {change.status.value}.", current_state=change.status.value)
        now = ports.now
        updated = change
        for party in sorted(pending):
            updated = updated.answered(party, ChangeAnswer(agree, principal.user_id, now, None if agree else reason), now)
        updated = replace(updated, revision=change.revision + 1)
        changes = Changes().transition(updated, change.status.value, revision=change.revision)
        if updated.status is ChangeStatus.SIGNING:
            # Checked again as of today, and against the engagement as read: a period confirmed meanwhile
            # (which writes the engagement) fails this commit, and the retry finds it invoiced.
            if engagement.status is not EngagementStatus.ACTIVE:
                raise Conflict("Only an active engagement is changed.", current_state=engagement.status.value)
            if issues := change.proposed.issues(engagement.terms, now.date()):
                raise Conflict(f"The change no longer fits: {issues[0].field} {issues[0].message}; propose another.", issues=issues)
            _ensure_time_fits(ports, engagement, change.proposed)
            bumped = replace(engagement, revision=engagement.revision + 1)
            changes.transition(bumped, engagement.status.value, revision=engagement.revision)
        if updated.status is ChangeStatus.DECLINED:
            _close_on_engagement(engagement, updated, changes, now)
            tell_everyone(
                ports.contracts, engagement, "engagement_change_declined", {**_summary(updated), "reason": reason or "-"}, changes, now
            )
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return _after_agreement(ports, updated)
    raise engagement_busy()


def withdraw_change(ports: ChangePorts, principal: Principal, engagement_id: str, change_id: str, reason: str) -> EngagementChange:
    """Its proposer withdraws an open change while no addendum is signed; staff may withdraw any open change
    (an addendum a party signed then stays on record without effect). Addenda out are voided."""
    for _ in range(ATTEMPTS):
        engagement, change = _change(ports, principal, engagement_id, change_id)
        if not principal.is_staff and principal.user_id != change.proposed_by:
            _speaking_for(principal, engagement)
            raise Forbidden("Only whoever proposed the change, or staff, withdraw it.")
        if not change.is_open:
            raise Conflict(f"The change is {change.status.value}.", current_state=change.status.value)
        if change.signed and not principal.is_staff:
            raise Conflict("An addendum is signed: ask staff to withdraw the change.", current_state="partly_signed")
        now = ports.now
        changes = Changes()
        addenda = [a for a in (ports.contracts.engagements.get_contract(engagement_id, c) for c in change.addenda.values()) if a]
        if void_outstanding(ports.contracts, addenda, WITHDRAWN_REASON, changes, now, unless_signed=True):
            # Its webhook is on the way: once it is recorded, the change may be signed by both (and is no longer
            # withdrawn), or staff may withdraw it knowing one addendum is signed.
            raise Conflict("An addendum was just signed; try again in a moment.", current_state="partly_signed")
        withdrawn = change.closed(ChangeStatus.WITHDRAWN, principal.user_id, reason, now)
        changes.transition(withdrawn, change.status.value, revision=change.revision)
        _close_on_engagement(engagement, withdrawn, changes, now)
        tell_everyone(ports.contracts, engagement, "engagement_change_withdrawn", {**_summary(withdrawn), "reason": reason}, changes, now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return withdrawn
    raise engagement_busy()


def _close_on_engagement(engagement: Engagement, change: EngagementChange, changes: Changes, now: datetime) -> None:
    """The engagement no longer names the change as open (its revision checked: a concurrent proposal waits)."""
    if engagement.open_change_id == change.change_id:
        cleared = replace(engagement, open_change_id=None, revision=engagement.revision + 1, updated_at=now)
        changes.transition(cleared, engagement.status.value, revision=engagement.revision)


def _ensure_time_fits(ports: ChangePorts, engagement: Engagement, proposed: ProposedTerms) -> None:
    """A new rate never re-prices time already invoiced (a credit note and a new invoice would be needed), and
    an early end never leaves reported time after the new last day."""
    if proposed.rate_minor is not None and proposed.effective_from is not None:
        invoiced = periods_invoiced_from(ports.timesheets, engagement.engagement_id, proposed.effective_from)
        if invoiced:
            raise Conflict(
                f"Time from {proposed.effective_from.isoformat()} is already invoiced (period {', '.join(invoiced)}); "
                "a new rate applies from a later day.",
                current_state="invoiced",
            )
    if proposed.end_date < engagement.terms.end_date:
        after = ports.timesheets.list_entries(engagement.engagement_id, proposed.end_date + timedelta(days=1), engagement.terms.end_date)
        if after:
            raise Conflict(
                f"Time is reported for {after[0].day.isoformat()}, after the proposed last day; a later last day is needed.",
                current_state="time_reported",
            )


def _ask(ports: ChangePorts, engagement: Engagement, change: EngagementChange, changes: Changes, now: datetime) -> None:
    """The people of each party still to answer are asked, each once."""
    accounts = ports.contracts.candidacies.assignments.accounts.accounts
    people: list[User] = []
    for party in change.waiting_for:
        if party is ChangeParty.CLIENT:
            people += client_recipients(ports.contracts.candidacies, engagement.client_id)
        elif party is ChangeParty.AGENCY:
            people += agency_admins(accounts, engagement.agency_id)
        else:
            consultant = ports.contracts.users(engagement.consultant_id)
            people += [consultant] if consultant is not None and consultant.status is UserStatus.ACTIVE else []
    proposer = ports.contracts.users(change.proposed_by)
    params = {
        **engagement_params(ports.contracts, engagement),
        **_summary(change),
        "proposer_name": proposer.name if proposer else "",
        "reason": change.reason,
    }
    for user in {u.user_id: u for u in people}.values():
        notify(
            changes,
            user,
            "engagement_change_proposed",
            {**params, "recipient_name": user.name},
            now,
            object_type="engagement",
            object_id=engagement.engagement_id,
        )


def _summary(change: EngagementChange) -> dict[str, str]:
    """What notices say of a change, in language-neutral form (dates, amounts, arrows)."""
    before, after, proposed = change.previous, change.new_terms, change.proposed
    since = f" ({proposed.effective_from.isoformat()})" if proposed.effective_from else ""
    extent = f"{before.share_of_full_time} %"
    if after.share_of_full_time != before.share_of_full_time:
        extent = f"{before.share_of_full_time} % → {after.share_of_full_time} %{since}"
    rate = "-"
    if before.rate_minor is not None:
        day = proposed.effective_from or before.end_date
        rate = format_amount(before.rate_on(day), before.currency)
        if proposed.rate_minor is not None:
            rate = f"{rate} → {format_amount(proposed.rate_minor, before.currency)}{since}"
    return {
        "previous_end_date": before.end_date.isoformat(),
        "new_end_date": after.end_date.isoformat(),
        "extent": extent,
        "rate": rate,
    }


# --- addenda ----------------------------------------------------------------------------------------------


def _after_agreement(ports: ChangePorts, change: EngagementChange) -> EngagementChange:
    """An agreed change's addenda are sent now; a send that fails (the provider down) is retried by the jobs,
    by the same answer again, or by staff. An addendum that ended unsigned is sent again by staff only."""
    if change.status is not ChangeStatus.SIGNING:
        return change
    return send_addenda(ports, change.engagement_id, change.change_id, renew_unsigned=False)


def resend_addenda(
    ports: ChangePorts, principal: Principal, engagement_id: str, change_id: str, provider: str | None = None
) -> EngagementChange:
    """Staff send an agreed change's addenda again: a new version of one that ended unsigned, or one a
    failed send left as a draft. The caller signs for the platform on the new versions."""
    if not principal.is_staff:
        _speaking_for(principal, _engagement(ports, principal, engagement_id))
        raise Forbidden("Only staff send addenda again.")
    _, change = _change(ports, principal, engagement_id, change_id)
    if change.status is not ChangeStatus.SIGNING:
        raise Conflict(f"The change is {change.status.value}; addenda are sent for an agreed change.", current_state=change.status.value)
    return send_addenda(ports, engagement_id, change_id, principal.user_id, provider, renew_unsigned=True)


def send_addenda(
    ports: ChangePorts,
    engagement_id: str,
    change_id: str,
    platform_signer_id: str | None = None,
    provider: str | None = None,
    *,
    renew_unsigned: bool,
) -> EngagementChange:
    """Makes the addenda still to make and sends the drafts; with ``renew_unsigned``, one that ended unsigned is
    made again as a new version."""
    contracts = ports.contracts
    change = _prepare_addenda(ports, engagement_id, change_id, platform_signer_id, renew_unsigned)
    engagement = contracts.engagements.get_engagement(engagement_id)
    if engagement is None or change_being_signed(contracts, engagement) is None:
        # An addendum ended unsigned meanwhile: a draft left beside it waits for staff to send both again
        # (which checks first that no time it would change was invoiced or reported since).
        return change
    for contract_id in change.addenda.values():
        addendum = contracts.engagements.get_contract(engagement_id, contract_id)
        if addendum is not None and addendum.status is ContractStatus.DRAFT:
            send_for_signature(contracts, addendum, provider or contracts.default_provider, _still_signing)
    found = contracts.engagements.get_change(engagement_id, change_id)
    assert found is not None, "a change is never deleted"
    return found


def send_agreed_addenda(ports: ChangePorts) -> int:
    """The jobs send the addenda a failed send left (the provider down a moment, say): an agreed change is
    never left unsent. Returns how many changes were sent."""
    sent = 0
    repository = ports.contracts.engagements
    for change in repository.list_signing_changes():
        addenda = [repository.get_contract(change.engagement_id, c) for c in change.addenda.values()]
        if len(addenda) == len(ContractParty) and all(a is not None and a.status is not ContractStatus.DRAFT for a in addenda):
            continue
        engagement = repository.get_engagement(change.engagement_id)
        if engagement is None or change_being_signed(ports.contracts, engagement) is None:
            continue  # one ended unsigned: staff send again
        try:
            send_addenda(ports, change.engagement_id, change.change_id, renew_unsigned=False)
            sent += 1
        except Exception as exc:
            log_failure("sending addenda failed", exc, change_id=change.change_id)
    return sent


def _still_signing(ports: ContractPorts, addendum: Contract) -> Changes | None:
    """An addendum is sent while its change is being signed and names it as current."""
    assert addendum.change_id is not None
    change = ports.engagements.get_change(addendum.engagement_id, addendum.change_id)
    if change is None or change.status is not ChangeStatus.SIGNING or change.addenda.get(addendum.party) != addendum.contract_id:
        return None
    return Changes().transition(replace(change, revision=change.revision + 1), change.status.value, revision=change.revision)


def _prepare_addenda(
    ports: ChangePorts, engagement_id: str, change_id: str, platform_signer_id: str | None, renew_unsigned: bool
) -> EngagementChange:
    """Each contract party's addendum is made once; one that ended unsigned is made again as a new version, if
    no time it would change has been invoiced or reported meanwhile (a confirmation writes the change, so
    one racing this fails the one or the other)."""
    repository = ports.contracts.engagements
    for _ in range(ATTEMPTS):
        change = repository.get_change(engagement_id, change_id)
        engagement = repository.get_engagement(engagement_id)
        assert change is not None and engagement is not None, "a change and its engagement are never deleted"
        if change.status is not ChangeStatus.SIGNING:
            return change
        current = {
            party: repository.get_contract(engagement_id, change.addenda[party]) if party in change.addenda else None
            for party in ContractParty
        }
        to_make = [p for p, c in current.items() if c is None or (renew_unsigned and c.status in UNSIGNED_ENDS)]
        if not to_make:
            return change
        _ensure_time_fits(ports, engagement, change.proposed)
        signer = platform_signer_id or _platform_signer(ports.contracts, engagement).user_id
        changes = Changes()
        addenda = dict(change.addenda)
        for party in to_make:
            draft = _draft_addendum(ports.contracts, engagement, change, party, current[party], signer)
            changes.insert(draft)
            addenda[party] = draft.contract_id
        updated = replace(change, addenda=addenda, revision=change.revision + 1, updated_at=ports.now)
        changes.transition(updated, change.status.value, revision=change.revision)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return updated
    raise engagement_busy()


def _platform_signer(ports: ContractPorts, engagement: Engagement) -> User:
    """The consultant's Consultant Agent, else the first active staff member."""
    staff = active_staff(ports.candidacies.assignments.accounts.accounts)
    agent = ports.candidacies.proposals.get_agent_assignment(engagement.consultant_id)
    chosen = next((u for u in staff if agent is not None and u.user_id == agent.agent_id), None)
    chosen = chosen or min(staff, key=lambda u: u.user_id, default=None)
    if chosen is None:
        raise Conflict("No active staff member can sign the addenda for the platform.")
    return chosen


def _draft_addendum(
    ports: ContractPorts, engagement: Engagement, change: EngagementChange, party: ContractParty, previous: Contract | None, signer_id: str
) -> Contract:
    from chalicelib.contracts.pdf import AddendumView, render_addendum

    now = ports.now
    contract_id = new_id()
    version = previous.version + 1 if previous else 1
    names = document_parties(ports, engagement, party, signer_id)
    amended_id = engagement.contracts.get(party)
    amended = ports.engagements.get_contract(engagement.engagement_id, amended_id) if amended_id else None
    reference = contract_reference(contract_id, version, addendum=True)
    view = AddendumView(
        party=party,
        reference=reference,
        contract_reference=reference_of(amended) if amended else "",
        issued_on=now.date(),
        previous=change.previous,
        proposed=change.proposed,
        **names.printed(ports),
    )
    pdf, digest = render_addendum(view), terms_digest(change.new_terms)
    draft = document_contract(ports, engagement, party, names, contract_id, version, reference, pdf, digest, now)
    return replace(draft, change_id=change.change_id)


def follow_addendum(
    ports: ContractPorts, engagement: Engagement, before: Contract, after: Contract, changes: Changes, now: datetime
) -> None:
    """An addendum moved (the signature webhook or the reconciliation): its change records the signature, and
    once both are signed the engagement's terms change, in the same transaction. Every move writes the
    change, so of two completions arriving together the second sees the first."""
    assert after.change_id is not None
    change = ports.engagements.get_change(engagement.engagement_id, after.change_id)
    assert change is not None, "a change is never deleted"
    current = change.addenda.get(after.party) == after.contract_id
    signed = change.signed | {after.party} if after.status is ContractStatus.COMPLETED and current else change.signed
    updated = replace(change, signed=frozenset(signed), revision=change.revision + 1, updated_at=now)
    if updated.signed == frozenset(ContractParty) and change.status is ChangeStatus.SIGNING:
        updated = replace(updated, status=ChangeStatus.SIGNED, signed_at=now)
        _apply(ports, engagement, updated, changes, now)
    changes.transition(updated, change.status.value, revision=change.revision)
    if after.status in UNSIGNED_ENDS and before.status not in ENDED and current and change.is_open:
        alert_unsigned(ports, engagement, after, changes, now)


def _apply(ports: ContractPorts, engagement: Engagement, change: EngagementChange, changes: Changes, now: datetime) -> None:
    """Both addenda are signed: the engagement takes the new terms. A moved end date asks for fitting next
    assignments again before the new end."""
    if terms_digest(engagement.terms) != terms_digest(change.previous):
        logger.error("a signed change was made from other terms", extra={"change_id": change.change_id})
    terms: EngagementTerms = change.proposed.applied_to(engagement.terms)
    moved = terms.end_date != engagement.terms.end_date
    updated = replace(
        engagement,
        terms=terms,
        open_change_id=None if engagement.open_change_id == change.change_id else engagement.open_change_id,
        next_assignments_suggested_at=None if moved else engagement.next_assignments_suggested_at,
        revision=engagement.revision + 1,
        updated_at=now,
    )
    changes.transition(updated, engagement.status.value, revision=engagement.revision)
    tell_everyone(ports, updated, "engagement_changed", _summary(change), changes, now)
    logger.info("engagement changed", extra={"engagement_id": engagement.engagement_id, "change_id": change.change_id})


# --- the end of the engagement ----------------------------------------------------------------------------


def lapse_on_end(ports: ContractPorts, engagement: Engagement, by: str, changes: Changes, now: datetime) -> Engagement | None:
    """The engagement ends with a change still open (proposed, or agreed with an addendum not sent or ended
    unsigned: ``change_being_signed`` holds the end otherwise): the change lapses with it, its addenda still
    out are voided, and everyone is told. Returns the engagement without its open change, or None when an
    addendum was signed a moment ago (the end waits for its webhook)."""
    change = ports.engagements.get_change(engagement.engagement_id, engagement.open_change_id) if engagement.open_change_id else None
    if change is not None and change.is_open:
        addenda = [a for a in (ports.engagements.get_contract(engagement.engagement_id, c) for c in change.addenda.values()) if a]
        if void_outstanding(ports, addenda, LAPSED_REASON, changes, now, unless_signed=True):
            return None  # signed a moment ago: the end waits for its webhook (or the reconciliation)
        lapsed = change.closed(ChangeStatus.LAPSED, by, LAPSED_REASON, now)
        changes.transition(lapsed, change.status.value, revision=change.revision)
        tell_everyone(ports, engagement, "engagement_change_lapsed", _summary(lapsed), changes, now)
    return replace(engagement, open_change_id=None)
