"""Candidacies: staff shortlist matched consultants, and the consultant and the agency each consent to the
disclosure at the agency's rate (or decline), before anything reaches a client.

Each consent is a ledger entry naming the client, the assignment and the rate. A changed rate voids both
(their entries are withdrawn) and asks again. Every change of a candidacy is a conditional write on its
revision: both parties, staff and the client write to it, and none may overwrite another's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import Organisation, User, UserStatus
from chalicelib.domain.assignments import Assignment, AssignmentStatus, candidate_ref
from chalicelib.domain.consent import ConsentAction, ConsentEntry, ConsentPurpose, ConsentSource, withdrawal_entry_id, withdrawal_of
from chalicelib.domain.identity import Principal, RequestContext, Role
from chalicelib.domain.ids import iso, new_id
from chalicelib.domain.money import HourlyRate, format_amount
from chalicelib.domain.proposals import (
    WITHDRAWABLE,
    Answer,
    Candidacy,
    CandidacyStatus,
    Party,
    PartyAnswer,
)
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.services.accounts import ensure_staff, record_consent
from chalicelib.services.assignments import AssignmentPorts
from chalicelib.services.notifications import commit_with_notices, notify
from chalicelib.services.ports import AccountRepository, Changes, ConsentLedger, ProfileRepository, ProposalRepository, UniqueClaim

ATTEMPTS = 3  # a write that lost a race to another party's answer is read again and retried


@dataclass(frozen=True)
class CandidacyPorts:
    assignments: AssignmentPorts
    proposals: ProposalRepository
    profiles: ProfileRepository
    ledger: ConsentLedger
    commission_bps: int = 1500
    consent_request_ttl: timedelta = timedelta(hours=72)
    organizer_email: str = "no-reply@customersonly.local"  # calendar invitations come from the platform

    @property
    def now(self) -> datetime:
        return self.assignments.accounts.now()

    def commit(self, changes: Changes) -> None:
        commit_with_notices(self.assignments.accounts.uow, changes)


# --- who may see and do what -------------------------------------------------------------------------


def parties_of(principal: Principal, candidacy: Candidacy) -> frozenset[Party]:
    """The parties the caller speaks for: the consultant themself, and the agency's admins (an independent
    consultant is both)."""
    parties = set()
    if principal.has(Role.CONSULTANT) and principal.user_id == candidacy.consultant_id:
        parties.add(Party.CONSULTANT)
    if principal.administers(candidacy.agency_id):
        parties.add(Party.AGENCY)
    return frozenset(parties)


def visible_candidacy(ports: CandidacyPorts, principal: Principal, candidacy_id: str) -> Candidacy:
    """Staff and the two parties see a candidacy; nobody else learns it exists (clients see proposals)."""
    candidacy = ports.proposals.get_candidacy(candidacy_id)
    if candidacy is None or not (principal.is_staff or parties_of(principal, candidacy)):
        raise NotFound("Candidacy not found.")
    return candidacy


def _as_party(ports: CandidacyPorts, principal: Principal, candidacy_id: str) -> tuple[Candidacy, frozenset[Party]]:
    candidacy = visible_candidacy(ports, principal, candidacy_id)
    parties = parties_of(principal, candidacy)
    if not parties:
        raise NotFound("Candidacy not found.")  # staff do not answer for a party
    return candidacy, parties


def list_candidacies_for_assignment(ports: CandidacyPorts, principal: Principal, assignment_id: str) -> list[Candidacy]:
    ensure_staff(principal)
    return ports.proposals.list_assignment_candidacies(assignment_id)


def list_candidacies_by_status(ports: CandidacyPorts, principal: Principal, status: CandidacyStatus) -> list[Candidacy]:
    ensure_staff(principal)
    return ports.proposals.list_candidacies_by_status(status)


def my_candidacies(ports: CandidacyPorts, principal: Principal) -> list[Candidacy]:
    return ports.proposals.list_consultant_candidacies(principal.user_id)


def agency_candidacies(ports: CandidacyPorts, principal: Principal, agency_id: str) -> list[Candidacy]:
    if not (principal.administers(agency_id) or principal.is_staff):
        raise NotFound("Agency not found.")
    return ports.proposals.list_agency_candidacies(agency_id)


# --- shortlisting and asking for consent ------------------------------------------------------------


def shortlist(
    ports: CandidacyPorts, principal: Principal, assignment_id: str, match_run_id: str, consultant_id: str, rate: HourlyRate | None
) -> Candidacy:
    """Staff put a consultant from a match run forward for an open assignment (once per consultant). The
    first rate is the one given, or the consultant's expected rate; the agency may change it."""
    ensure_staff(principal)
    assignment = _open_assignment(ports, assignment_id)
    run = next((r for r in ports.assignments.assignments.list_match_runs(assignment_id) if r.run_id == match_run_id), None)
    if run is None:
        raise InvalidInput("No such match run for this assignment.", issues=[FieldIssue("match_run_id", "not a run of this assignment")])
    if candidate_ref(run.run_id, consultant_id) not in {entry.candidate_ref for entry in run.ranked}:
        raise InvalidInput("The consultant was not among the run's candidates.", issues=[FieldIssue("consultant_id", "not in the run")])
    consultant = ports.assignments.accounts.accounts.get_user(consultant_id)
    profile = ports.profiles.get_profile(consultant_id)
    if consultant is None or consultant.status is not UserStatus.ACTIVE or consultant.org_id is None or profile is None:
        raise Conflict("The consultant can no longer be put forward.")
    rate = rate or profile.expected_hourly_rate
    if rate is None:
        raise InvalidInput("The consultant states no rate: give one.", issues=[FieldIssue("hourly_rate", "required")])
    _ensure_currency(assignment, rate)
    now = ports.now
    candidacy = Candidacy(
        candidacy_id=new_id(),
        assignment_id=assignment_id,
        client_id=assignment.client_id,
        consultant_id=consultant_id,
        agency_id=consultant.org_id,
        match_run_id=match_run_id,
        created_at=now,
        created_by=principal.user_id,
        updated_at=now,
        rate=rate,
        commission_bps=ports.commission_bps,
        rate_set_by=principal.user_id,
    )
    claim = UniqueClaim("candidacy", f"{assignment_id}:{consultant_id}", candidacy.candidacy_id)
    try:
        ports.commit(Changes().insert(candidacy).insert(claim))
    except ConcurrencyConflict:
        existing = ports.proposals.find_candidacy(assignment_id, consultant_id)
        raise Conflict(
            "The consultant is already a candidate for this assignment.", current_state=existing.status.value if existing else None
        ) from None
    return candidacy


def request_consents(ports: CandidacyPorts, principal: Principal, candidacy_id: str, rate: HourlyRate | None) -> Candidacy:
    """Staff ask the consultant and the agency (e-mail and in-app) whether the profile may go to the client
    at the rate (staff may propose it now, before the agency has its say); asking again after an expiry
    opens a new deadline."""
    ensure_staff(principal)

    def change(candidacy: Candidacy, now: datetime) -> tuple[Candidacy, Changes]:
        if candidacy.status in (CandidacyStatus.CONSENT_REQUESTED, CandidacyStatus.CONSENTED) and rate in (None, candidacy.rate):
            return candidacy, Changes()  # asked already (or answered)
        candidacy.ensure_can_move_to(CandidacyStatus.CONSENT_REQUESTED)
        if rate not in (None, candidacy.rate) and candidacy.status not in (CandidacyStatus.SUGGESTED, CandidacyStatus.EXPIRED):
            raise Conflict("Once the parties are asked, the agency sets the rate.", current_state=candidacy.status.value)
        assignment = _open_assignment(ports, candidacy.assignment_id)
        changes = Changes()
        updated = candidacy
        if rate is not None and rate != candidacy.rate:
            _ensure_currency(assignment, rate)
            updated, changes = _new_rate(ports, candidacy, rate, principal, now)
        asked = replace(
            updated,
            status=CandidacyStatus.CONSENT_REQUESTED,
            answers={},
            consent_requested_at=now,
            expires_at=now + ports.consent_request_ttl,
            updated_at=now,
            revision=candidacy.revision + 1,
        )
        changes.transition(asked, candidacy.status.value, revision=candidacy.revision)
        _tell_parties(ports, changes, asked, assignment, "disclosure_consent_requested", now)
        return asked, changes

    return update_candidacy(ports, candidacy_id, change)


def set_rate(ports: CandidacyPorts, principal: Principal, candidacy_id: str, rate: HourlyRate) -> Candidacy:
    """The agency sets the hourly rate to the client. Before the request it is simply set; once asked, a new
    rate voids both answers (their consents are withdrawn in the ledger) and asks both again. Once sent,
    the rate is fixed."""
    candidacy, parties = _as_party(ports, principal, candidacy_id)
    if Party.AGENCY not in parties:
        raise NotFound("Candidacy not found.")

    def change(candidacy: Candidacy, now: datetime) -> tuple[Candidacy, Changes]:
        if rate == candidacy.rate:
            return candidacy, Changes()
        if candidacy.status not in (CandidacyStatus.SUGGESTED, CandidacyStatus.CONSENT_REQUESTED, CandidacyStatus.CONSENTED):
            raise Conflict(f"The rate of a {candidacy.status.value} candidacy is fixed.", current_state=candidacy.status.value)
        assignment = _open_assignment(ports, candidacy.assignment_id)
        _ensure_currency(assignment, rate)
        updated, changes = _new_rate(ports, candidacy, rate, principal, now)
        if candidacy.status is not CandidacyStatus.SUGGESTED:
            updated = replace(
                updated, status=CandidacyStatus.CONSENT_REQUESTED, consent_requested_at=now, expires_at=now + ports.consent_request_ttl
            )
        updated = replace(updated, updated_at=now, revision=candidacy.revision + 1)
        changes.transition(updated, candidacy.status.value, revision=candidacy.revision)
        if candidacy.status is not CandidacyStatus.SUGGESTED:
            _tell_parties(ports, changes, updated, assignment, "disclosure_rate_changed", now)
        return updated, changes

    return update_candidacy(ports, candidacy.candidacy_id, change)


def _new_rate(
    ports: CandidacyPorts, candidacy: Candidacy, rate: HourlyRate, principal: Principal, now: datetime
) -> tuple[Candidacy, Changes]:
    """The candidacy at a new rate with no answers, and the withdrawals of the consents the old rate had."""
    changes = Changes()
    void_consents(ports, candidacy, changes, principal.user_id, now, None)
    updated = replace(
        candidacy,
        rate=rate,
        commission_bps=ports.commission_bps,
        rate_version=candidacy.rate_version + 1,
        rate_set_by=principal.user_id,
        answers={},
    )
    return updated, changes


# --- the parties' answers -----------------------------------------------------------------------------


def answer_request(
    ports: CandidacyPorts,
    principal: Principal,
    candidacy_id: str,
    *,
    consent: bool,
    rate_seen: HourlyRate | None,
    reason: str | None,
    ctx: RequestContext,
) -> Candidacy:
    """The consultant or the agency consents (naming the rate they saw, so that a rate changed meanwhile is
    not consented to unknowingly) or declines. Answering again the same way changes nothing."""
    _, parties = _as_party(ports, principal, candidacy_id)

    def change(candidacy: Candidacy, now: datetime) -> tuple[Candidacy, Changes]:
        wanted = Answer.CONSENTED if consent else Answer.DECLINED
        open_parties = [p for p in parties if not _answered(candidacy, p, wanted)]
        settled = (CandidacyStatus.CONSENT_REQUESTED, CandidacyStatus.CONSENTED) if consent else (CandidacyStatus.DECLINED,)
        if candidacy.status in settled and (not open_parties or not consent):
            return candidacy, Changes()  # a repeated click, or a refusal the other party already made
        if candidacy.status is not CandidacyStatus.CONSENT_REQUESTED:
            raise Conflict(
                f"The candidacy is {candidacy.status.value}: there is no request to answer.", current_state=candidacy.status.value
            )
        if candidacy.expires_at is not None and now >= candidacy.expires_at:
            raise Conflict("The request has expired.", current_state=CandidacyStatus.EXPIRED.value)
        if consent and rate_seen != candidacy.rate:
            raise Conflict("The rate has changed: review the new rate before consenting.", current_state=candidacy.status.value)
        changes = Changes()
        answers = dict(candidacy.answers)
        for party in open_parties:
            entry = _consent_entry(candidacy, party, principal, now, ctx) if consent else None
            if entry is not None:
                record_consent(changes, entry, index_follows=False)
            answers[party] = PartyAnswer(wanted, now, principal.user_id, candidacy.rate_version, entry.entry_id if entry else None, reason)
        updated = replace(candidacy, answers=answers, updated_at=now, revision=candidacy.revision + 1)
        if not consent:
            # One refusal ends it; the other party's consent, if given, is withdrawn with it.
            void_consents(ports, candidacy, changes, principal.user_id, now, ctx)
            declined_by = Party.CONSULTANT if Party.CONSULTANT in open_parties else Party.AGENCY
            updated = updated.closed(CandidacyStatus.DECLINED, by=principal.user_id, reason=reason, now=now, declined_by=declined_by.value)
        elif updated.consented_by_both:
            updated = replace(updated, status=CandidacyStatus.CONSENTED, expires_at=None)
        return updated, changes.transition(updated, candidacy.status.value, revision=candidacy.revision)

    return update_candidacy(ports, candidacy_id, change)


def _answered(candidacy: Candidacy, party: Party, wanted: Answer) -> bool:
    answer = candidacy.answers.get(party)
    return answer is not None and answer.answer is wanted and answer.rate_version == candidacy.rate_version


def withdraw_candidacy(
    ports: CandidacyPorts,
    principal: Principal,
    candidacy_id: str,
    reason: str | None,
    ctx: RequestContext,
    *,
    on_withdraw: OnWithdraw | None = None,
) -> Candidacy:
    """A party withdraws, or staff take the candidate out; the consents given for it are withdrawn in the
    ledger in the same transaction. After sending, the client loses the profile at once."""
    candidacy = visible_candidacy(ports, principal, candidacy_id)

    def change(candidacy: Candidacy, now: datetime) -> tuple[Candidacy, Changes]:
        if candidacy.status is CandidacyStatus.WITHDRAWN:
            return candidacy, Changes()
        if candidacy.status not in WITHDRAWABLE:
            raise Conflict(f"A {candidacy.status.value} candidacy cannot be withdrawn.", current_state=candidacy.status.value)
        changes = Changes()
        void_consents(ports, candidacy, changes, principal.user_id, now, ctx)
        updated = replace(
            candidacy.closed(CandidacyStatus.WITHDRAWN, by=principal.user_id, reason=reason, now=now), revision=candidacy.revision + 1
        )
        changes.transition(updated, candidacy.status.value, revision=candidacy.revision)
        if on_withdraw is not None:
            on_withdraw(candidacy, updated, changes, now)
        return updated, changes

    return update_candidacy(ports, candidacy.candidacy_id, change)


OnWithdraw = Callable[[Candidacy, Candidacy, Changes, datetime], None]


def withdraw_disclosure_consent(ports: CandidacyPorts, given: ConsentEntry, principal: Principal, ctx: RequestContext) -> bool:
    """The consultant withdrew a disclosure consent from their consent list: the candidacy it was given for
    is withdrawn with it. Returns False when the consent belongs to no candidacy that can still be withdrawn
    (the caller then withdraws the entry alone)."""
    if given.candidacy_id is None:
        return False
    candidacy = ports.proposals.get_candidacy(given.candidacy_id)
    if candidacy is None or candidacy.consent_entry(Party.CONSULTANT) != given.entry_id or candidacy.status not in WITHDRAWABLE:
        return False
    from chalicelib.services.proposals import revoke_from_client  # the client side of a withdrawal

    withdraw_candidacy(ports, principal, candidacy.candidacy_id, "consent withdrawn", ctx, on_withdraw=revoke_from_client(ports))
    return True


# The erasure's actor: a withdrawal made for a person who asked to be forgotten.
ERASURE = Principal(user_id="erasure", roles=frozenset({Role.STAFF}))


def withdraw_for_erasure(ports: CandidacyPorts, consultant_id: str) -> int:
    """Withdraws the consultant's candidacies that are still open, as a withdrawal by them would: the client
    is told and loses the profile, interviews are cancelled in every calendar, consents are withdrawn.
    Idempotent (an erasure run may repeat). Returns how many were withdrawn now."""
    from chalicelib.services.proposals import revoke_from_client

    withdrawn = 0
    for candidacy in ports.proposals.list_consultant_candidacies(consultant_id):
        if candidacy.status in WITHDRAWABLE:
            withdraw_candidacy(ports, ERASURE, candidacy.candidacy_id, "erased", RequestContext(), on_withdraw=revoke_from_client(ports))
            withdrawn += 1
    return withdrawn


# --- expiry ---------------------------------------------------------------------------------------------


def expire_consent_requests(ports: CandidacyPorts) -> int:
    """The scheduled job: consent requests past their deadline expire, and both parties are told. Idempotent."""
    now = ports.now
    expired = 0
    for due in ports.proposals.list_candidacies_by_status(CandidacyStatus.CONSENT_REQUESTED, due_before=now):

        def change(candidacy: Candidacy, now: datetime) -> tuple[Candidacy, Changes]:
            if candidacy.status is not CandidacyStatus.CONSENT_REQUESTED or candidacy.expires_at is None or candidacy.expires_at > now:
                return candidacy, Changes()  # answered or asked again meanwhile
            changes = Changes()
            void_consents(ports, candidacy, changes, "system", now, None)  # a half-given consent does not outlive it
            updated = replace(candidacy.closed(CandidacyStatus.EXPIRED, by="system", reason=None, now=now), revision=candidacy.revision + 1)
            changes.transition(updated, candidacy.status.value, revision=candidacy.revision)
            assignment = ports.assignments.assignments.get_assignment(candidacy.assignment_id)
            if assignment is not None:
                _tell_parties(ports, changes, updated, assignment, "disclosure_request_expired", now)
            return updated, changes

        try:
            if update_candidacy(ports, due.candidacy_id, change).status is CandidacyStatus.EXPIRED:
                expired += 1
        except (Conflict, NotFound):
            continue  # changed under us three times, or erased meanwhile: the next run sees it
    return expired


# --- shared ------------------------------------------------------------------------------------------


def update_candidacy(
    ports: CandidacyPorts, candidacy_id: str, change: Callable[[Candidacy, datetime], tuple[Candidacy, Changes]]
) -> Candidacy:
    """Reads the candidacy, applies ``change`` and commits it conditional on the revision read; a write
    lost to a concurrent one is read again and decided anew (the other may have answered meanwhile)."""
    for _ in range(ATTEMPTS):
        candidacy = ports.proposals.get_candidacy(candidacy_id)
        if candidacy is None:
            raise NotFound("Candidacy not found.")
        updated, changes = change(candidacy, ports.now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return updated
    raise Conflict("The candidacy is being changed by someone else; try again.")


def _open_assignment(ports: CandidacyPorts, assignment_id: str) -> Assignment:
    assignment = ports.assignments.assignments.get_assignment(assignment_id)
    if assignment is None:
        raise NotFound("Assignment not found.")
    if assignment.status is not AssignmentStatus.OPEN:
        raise Conflict(f"The assignment is {assignment.status.value}; candidates are put forward for open ones.")
    return assignment


def _ensure_currency(assignment: Assignment, rate: HourlyRate) -> None:
    budget = assignment.max_hourly_rate or assignment.fixed_fee
    if budget is not None and budget.currency != rate.currency:
        raise InvalidInput(
            f"The assignment's budget is in {budget.currency}.", issues=[FieldIssue("hourly_rate.currency", f"must be {budget.currency}")]
        )


def void_consents(
    ports: CandidacyPorts, candidacy: Candidacy, changes: Changes, actor_id: str, now: datetime, ctx: RequestContext | None
) -> None:
    """Adds the withdrawal of every consent given for the candidacy's current rate to ``changes``: a
    candidacy that ends, or changes its rate, leaves no consent in force that no longer serves it."""
    for party in Party:
        entry_id = candidacy.consent_entry(party)
        given = ports.ledger.get(ledger_subject(candidacy, party), entry_id) if entry_id else None
        if given is not None and ports.ledger.get(given.subject_id, withdrawal_entry_id(given.entry_id)) is None:
            withdrawal = withdrawal_of(
                given, actor_id=actor_id, at=now, ip=ctx.ip if ctx else None, user_agent=ctx.user_agent if ctx else None
            )
            record_consent(changes, withdrawal, index_follows=False)


def ledger_subject(candidacy: Candidacy, party: Party) -> str:
    """Whose ledger a party's consent is in: the consultant's own, or the agency's."""
    return candidacy.consultant_id if party is Party.CONSULTANT else candidacy.agency_id


def _consent_entry(candidacy: Candidacy, party: Party, principal: Principal, now: datetime, ctx: RequestContext) -> ConsentEntry:
    return ConsentEntry(
        subject_id=ledger_subject(candidacy, party),
        entry_id=new_id(),
        action=ConsentAction.GIVEN,
        purpose=ConsentPurpose.PROFILE_DISCLOSURE,
        at=now,
        source=ConsentSource.FORM,
        actor_id=principal.user_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        agency_id=candidacy.agency_id,
        client_id=candidacy.client_id,
        assignment_id=candidacy.assignment_id,
        hourly_rate=candidacy.rate,
        candidacy_id=candidacy.candidacy_id,
    )


def party_recipients(ports: CandidacyPorts, candidacy: Candidacy) -> list[User]:
    """The consultant and the agency's active admins, each once (an independent consultant is both)."""
    accounts = ports.assignments.accounts.accounts
    return _active_once([accounts.get_user(candidacy.consultant_id), *agency_admins(accounts, candidacy.agency_id)])


def agency_admins(accounts: AccountRepository, agency_id: str) -> list[User]:
    """The agency's active admins: who acts and is told for the agency."""
    return _active_once(u for u in accounts.list_members(agency_id) if Role.AGENCY_ADMIN in u.roles)


def active_staff(accounts: AccountRepository) -> list[User]:
    return _active_once(accounts.list_staff())


def client_recipients(ports: CandidacyPorts, client_id: str) -> list[User]:
    members = ports.assignments.accounts.accounts.list_members(client_id)
    return _active_once(u for u in members if Role.CLIENT in u.roles)


def _active_once(users: Iterable[User | None]) -> list[User]:
    seen: dict[str, User] = {}
    for user in users:
        if user is not None and user.status is UserStatus.ACTIVE:
            seen.setdefault(user.user_id, user)
    return list(seen.values())


def client_name(ports: CandidacyPorts, client_id: str) -> str:
    org: Organisation | None = ports.assignments.accounts.accounts.get_organisation(client_id)
    return org.name if org is not None else ""


def _tell_parties(ports: CandidacyPorts, changes: Changes, candidacy: Candidacy, assignment: Assignment, kind: str, now: datetime) -> None:
    breakdown = candidacy.breakdown
    base = {
        "client_name": client_name(ports, candidacy.client_id),
        "assignment_title": assignment.title,
        "assignment_summary": assignment.description[:400],
        "start_date": assignment.start_date.isoformat(),
        "end_date": assignment.end_date.isoformat() if assignment.end_date else "-",
        "extent": f"{assignment.share_of_full_time} %",
        "rate": format_amount(breakdown.client_rate.amount_minor, breakdown.client_rate.currency),
        "commission": f"{format_amount(breakdown.commission_minor, breakdown.client_rate.currency)} ({breakdown.commission_bps / 100:g} %)",
        "agency_net": format_amount(breakdown.agency_net_minor, breakdown.client_rate.currency),
        "expires_at": iso(candidacy.expires_at) if candidacy.expires_at else "-",
        "link": f"{ports.assignments.accounts.web_base_url}/candidacies/{candidacy.candidacy_id}",
    }
    for user in party_recipients(ports, candidacy):
        notify(changes, user, kind, {**base, "recipient_name": user.name}, now, object_type="candidacy", object_id=candidacy.candidacy_id)
