"""Proposals: staff send consented candidacies to the client; the client sees redacted profiles with the
rate and its commission breakdown, and declines or accepts.

The send is one transaction per proposal that, for every candidacy in it, moves the candidacy from
consented to sent *and* checks in the ledger that neither party's consent was withdrawn: a withdrawal
racing with the send either lands first (and the candidate is left out) or after (and is a withdrawal
after sending, which revokes the client's access at once). Every disclosure is recorded in the person's
partition and in the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from chalicelib.domain.assignments import Assignment, AssignmentStatus
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import ConsentEntry, withdrawal_entry_id
from chalicelib.domain.contracts import Engagement, terms_from_acceptance
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import new_id
from chalicelib.domain.money import RateBreakdown
from chalicelib.domain.profiles import Availability, Language, Profile
from chalicelib.domain.proposals import DISCLOSED, MAX_CANDIDACIES_PER_PROPOSAL, Candidacy, CandidacyStatus, Disclosure, Party, Proposal
from chalicelib.domain.resume import ResumeItem, ResumeItemStatus, ResumePart
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.logging import logger
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.candidacies import (
    ATTEMPTS,
    CandidacyPorts,
    OnWithdraw,
    client_name,
    client_recipients,
    ledger_subject,
    party_recipients,
    update_candidacy,
    void_consents,
)
from chalicelib.services.interviews import cancel_open_interviews
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes


@dataclass(frozen=True)
class Skipped:
    candidacy_id: str
    reason: str


@dataclass(frozen=True)
class SendOutcome:
    proposal: Proposal
    skipped: list[Skipped]


def send_proposal(
    ports: CandidacyPorts, principal: Principal, assignment_id: str, candidacy_ids: list[str], message: str | None
) -> SendOutcome:
    """Staff send the named candidacies of an assignment to its client. Only those consented by both
    parties, with both consents in force as the transaction commits, go; the others are listed as skipped."""
    ensure_staff(principal)
    if len(set(candidacy_ids)) > MAX_CANDIDACIES_PER_PROPOSAL:
        raise InvalidInput(
            f"At most {MAX_CANDIDACIES_PER_PROPOSAL} candidates per proposal.",
            issues=[FieldIssue("candidacy_ids", f"at most {MAX_CANDIDACIES_PER_PROPOSAL}")],
        )
    assignment = ports.assignments.assignments.get_assignment(assignment_id)
    if assignment is None:
        raise NotFound("Assignment not found.")
    if assignment.status is not AssignmentStatus.OPEN:
        raise Conflict(f"The assignment is {assignment.status.value}; proposals go out for open ones.")
    company = client_name(ports, assignment.client_id)
    for _ in range(ATTEMPTS):
        now = ports.now
        proposal_id = new_id()
        changes = Changes()
        sent: list[str] = []
        skipped: list[Skipped] = []
        for candidacy_id in dict.fromkeys(candidacy_ids):
            candidacy = ports.proposals.get_candidacy(candidacy_id)
            consents = _consents_in_force(ports, candidacy) if candidacy is not None else None
            reason = _why_not_sendable(candidacy, assignment_id, consents)
            if reason is not None or candidacy is None or consents is None:
                skipped.append(Skipped(candidacy_id, reason or "not found"))
                continue
            moved = replace(
                candidacy,
                status=CandidacyStatus.SENT,
                proposal_id=proposal_id,
                sent_at=now,
                updated_at=now,
                revision=candidacy.revision + 1,
            )
            changes.transition(moved, CandidacyStatus.CONSENTED.value, revision=candidacy.revision)
            for given in consents:
                changes.require_in_force(given)
            disclosure = Disclosure(
                consultant_id=candidacy.consultant_id,
                disclosure_id=new_id(),
                at=now,
                by=principal.user_id,
                client_id=assignment.client_id,
                client_name=company,
                assignment_id=assignment_id,
                assignment_title=assignment.title,
                proposal_id=proposal_id,
                candidacy_id=candidacy_id,
                consent_entry_ids=tuple(c.entry_id for c in consents),
                rate=candidacy.rate,
            )
            changes.insert(disclosure).insert(_disclosure_audit(disclosure))
            sent.append(candidacy_id)
        if not sent:
            raise Conflict("None of the candidates can be sent: each needs both consents in force.")
        proposal = Proposal(proposal_id, assignment_id, assignment.client_id, now, principal.user_id, tuple(sent), message)
        try:
            ports.commit(changes.insert(proposal))
        except ConcurrencyConflict:
            continue  # a consent was withdrawn, or a candidacy changed, as we sent: decide again
        _tell_client(ports, assignment, proposal, now)
        return SendOutcome(proposal, skipped)
    raise Conflict("The candidacies are being changed by someone else; try again.")


def _consents_in_force(ports: CandidacyPorts, candidacy: Candidacy) -> list[ConsentEntry] | None:
    """Both parties' ledger entries for the current rate, if both are given and neither is withdrawn."""
    entries = []
    for party in Party:
        entry_id = candidacy.consent_entry(party)
        subject = ledger_subject(candidacy, party)
        given = ports.ledger.get(subject, entry_id) if entry_id else None
        if given is None or ports.ledger.get(subject, withdrawal_entry_id(given.entry_id)) is not None:
            return None
        entries.append(given)
    return entries


def _why_not_sendable(candidacy: Candidacy | None, assignment_id: str, consents: list[ConsentEntry] | None) -> str | None:
    if candidacy is None or candidacy.assignment_id != assignment_id:
        return "not a candidacy of this assignment"
    if candidacy.status is not CandidacyStatus.CONSENTED:
        return f"the candidacy is {candidacy.status.value}"
    if consents is None:
        return "a consent was withdrawn"
    return None


def _disclosure_audit(disclosure: Disclosure) -> AuditEntry:
    return AuditEntry(
        subject_id=disclosure.consultant_id,
        entry_id=new_id(),
        at=disclosure.at,
        actor_id=disclosure.by,
        action=AuditAction.PROFILE_DISCLOSED,
        object_type="proposal",
        object_id=disclosure.proposal_id,
        details={"client_id": disclosure.client_id, "candidacy_id": disclosure.candidacy_id},
    )


def _tell_client(ports: CandidacyPorts, assignment: Assignment, proposal: Proposal, now: datetime) -> None:
    """After the send (a lost notification must not undo a disclosure), in transactions of their own."""
    changes = Changes()
    link = f"{ports.assignments.accounts.web_base_url}/proposals/{proposal.proposal_id}"
    for user in client_recipients(ports, proposal.client_id):
        params = {
            "recipient_name": user.name,
            "assignment_title": assignment.title,
            "candidate_count": str(len(proposal.candidacy_ids)),
            "link": link,
        }
        notify(changes, user, "proposal_received", params, now, object_type="proposal", object_id=proposal.proposal_id)
    try:
        for batch in changes.batches():
            ports.commit(batch)
    except Exception:
        # The proposal is sent, and the client finds it in its list; failing the request now would only
        # make staff send it again.
        logger.exception("the client could not be told of a proposal", extra={"proposal_id": proposal.proposal_id})


# --- what the client sees ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateCard:
    """A candidacy as the client sees it in a proposal: with the redacted name, title and rate while
    disclosed; withdrawn (and nothing else) once a consent is withdrawn."""

    candidacy_id: str
    status: CandidacyStatus
    disclosed: bool
    display_name: str | None
    title: str | None
    breakdown: RateBreakdown | None


@dataclass(frozen=True)
class ProposalView:
    proposal: Proposal
    assignment_title: str
    candidates: list[CandidateCard]


def _client_proposal(ports: CandidacyPorts, principal: Principal, proposal_id: str) -> Proposal:
    proposal = ports.proposals.get_proposal(proposal_id)
    own = principal.has(Role.CLIENT) and proposal is not None and principal.org_id == proposal.client_id
    if proposal is None or not (own or principal.is_staff):
        raise NotFound("Proposal not found.")
    return proposal


def list_client_proposals(ports: CandidacyPorts, principal: Principal, client_id: str) -> list[Proposal]:
    if not (principal.is_staff or (principal.has(Role.CLIENT) and principal.org_id == client_id)):
        raise NotFound("Client company not found.")
    return ports.proposals.list_client_proposals(client_id)


def get_proposal(ports: CandidacyPorts, principal: Principal, proposal_id: str) -> ProposalView:
    proposal = _client_proposal(ports, principal, proposal_id)
    assignment = ports.assignments.assignments.get_assignment(proposal.assignment_id)
    cards = []
    for candidacy_id in proposal.candidacy_ids:
        candidacy = ports.proposals.get_candidacy(candidacy_id)
        profile = _disclosed_profile(ports, candidacy)
        if candidacy is None or profile is None:
            cards.append(CandidateCard(candidacy_id, CandidacyStatus.WITHDRAWN, False, None, None, None))
        else:
            cards.append(
                CandidateCard(candidacy_id, candidacy.status, True, redacted_name(profile.name), profile.title, candidacy.breakdown)
            )
    return ProposalView(proposal, assignment.title if assignment else "", cards)


def _disclosed_profile(ports: CandidacyPorts, candidacy: Candidacy | None) -> Profile | None:
    """The profile, if the client may have it now: the candidacy is disclosed and both consents are still in
    force, read from the ledger at this moment (not from the candidacy, which the withdrawal also moves)."""
    if candidacy is None or candidacy.status not in DISCLOSED or _consents_in_force(ports, candidacy) is None:
        return None
    return ports.profiles.get_profile(candidacy.consultant_id)


def _proposed(ports: CandidacyPorts, principal: Principal, proposal_id: str, candidacy_id: str) -> tuple[Proposal, Candidacy, Profile]:
    proposal = _client_proposal(ports, principal, proposal_id)
    candidacy = ports.proposals.get_candidacy(candidacy_id) if candidacy_id in proposal.candidacy_ids else None
    profile = _disclosed_profile(ports, candidacy)
    if candidacy is None or profile is None:
        raise NotFound("Candidate not found, or withdrawn.")
    return proposal, candidacy, profile


@dataclass(frozen=True)
class RedactedProfile:
    """What a client may see of a proposed consultant: no contact data before a contract."""

    candidacy_id: str
    status: CandidacyStatus
    display_name: str
    title: str | None
    summary: str | None
    skills: list[dict[str, Any]]
    experience: list[dict[str, Any]]
    education: list[dict[str, Any]]
    languages: list[Language]
    availability: Availability | None
    breakdown: RateBreakdown


# The resume fields a client sees, per part; links, files, certificates' ids and the letter stay out.
_SHOWN = {
    ResumePart.SKILLS: ("name", "skill_id", "level", "years"),
    ResumePart.EXPERIENCE: ("organisation", "role", "start", "end", "description", "skills_used"),
    ResumePart.EDUCATION: ("institution", "degree", "field_of_study", "start", "end", "description"),
}


def candidate_profile(ports: CandidacyPorts, principal: Principal, proposal_id: str, candidacy_id: str) -> RedactedProfile:
    _, candidacy, profile = _proposed(ports, principal, proposal_id, candidacy_id)
    items = [i for i in ports.profiles.list_resume_items(candidacy.consultant_id) if i.status is ResumeItemStatus.ACTIVE]
    record_staff_reads(
        ports.assignments.accounts.uow,
        principal,
        ports.now,
        AuditAction.PROFILE_READ,
        [Read(candidacy.consultant_id, "proposal", proposal_id)],
    )
    return RedactedProfile(
        candidacy_id=candidacy.candidacy_id,
        status=candidacy.status,
        display_name=redacted_name(profile.name),
        title=without_contact_data(profile.title) if profile.title else None,
        summary=without_contact_data(profile.summary) if profile.summary else None,
        skills=_part(items, ResumePart.SKILLS),
        experience=_part(items, ResumePart.EXPERIENCE),
        education=_part(items, ResumePart.EDUCATION),
        languages=profile.languages,
        availability=profile.availability,
        breakdown=candidacy.breakdown,
    )


def _part(items: list[ResumeItem], part: ResumePart) -> list[dict[str, Any]]:
    shown = []
    for item in items:
        if item.part is part:
            fields = {name: item.content.get(name) for name in _SHOWN[part] if item.content.get(name) is not None}
            shown.append({name: without_contact_data(value) if isinstance(value, str) else value for name, value in fields.items()})
    return sorted(shown, key=lambda f: str(f.get("start") or date.min), reverse=True) if part is not ResumePart.SKILLS else shown


def redacted_name(name: str) -> str:
    """First name and the initial of the last: "Anna Lindqvist" → "Anna L."."""
    words = name.split()
    if len(words) < 2:
        return words[0] if words else ""
    return f"{words[0]} {words[-1][0].upper()}."


_CONTACT = re.compile(
    r"[\w.+-]+\s*(?:@|\[at\]|\(at\))\s*[\w-]+(?:\s*(?:\.|\[dot\]|\(dot\))\s*[\w-]+)+"  # e-mail addresses, also spelt out
    r"|(?:https?://|www\.)\S+"  # links
    r"|\b(?:[a-z0-9-]+\.)+[a-z]{2,}/\S*"  # links without a scheme: linkedin.com/in/…, github.com/…
    r"|\b(?:skype|telegram|whatsapp|signal)\s*:\s*\S+"  # messenger handles
    r"|(?:\+|\b0)\d(?:[\s().-]?\d){6,}",  # phone numbers (+46 70 …, 070-…, 08 …), not years or ranges of them
    re.IGNORECASE,
)


def without_contact_data(text: str) -> str:
    """Free text with e-mail addresses, links and phone numbers taken out: a client gets no way to reach the
    consultant around the platform before a contract."""
    return _CONTACT.sub("[removed]", text)


# --- the client's decisions ---------------------------------------------------------------------------------


def decide(
    ports: CandidacyPorts, principal: Principal, proposal_id: str, candidacy_id: str, *, accept: bool, reason: str | None
) -> Candidacy:
    """The client accepts a candidate (a contract follows) or declines with a reason. Answering again the
    same way changes nothing."""
    target = CandidacyStatus.ACCEPTED if accept else CandidacyStatus.DECLINED
    proposal = _client_proposal(ports, principal, proposal_id)
    decided = ports.proposals.get_candidacy(candidacy_id) if candidacy_id in proposal.candidacy_ids else None
    if decided is not None and decided.status is target:
        return decided  # a double click
    _proposed(ports, principal, proposal_id, candidacy_id)
    if not accept and not reason:
        raise InvalidInput("Say why the candidate is declined.", issues=[FieldIssue("reason", "required")])

    def change(candidacy: Candidacy, now: datetime) -> tuple[Candidacy, Changes]:
        if candidacy.status is target:
            return candidacy, Changes()
        declined_by = "client" if not accept else None
        closed = candidacy.closed(target, by=principal.user_id, reason=reason, now=now, declined_by=declined_by)
        updated = replace(closed, revision=candidacy.revision + 1)
        changes = Changes()
        assignment = ports.assignments.assignments.get_assignment(candidacy.assignment_id)
        if accept:
            # The engagement is made with the acceptance, in the same transaction: exactly one per candidacy.
            if assignment is None:
                raise NotFound("Assignment not found.")
            engagement = Engagement(
                engagement_id=new_id(),
                candidacy_id=candidacy.candidacy_id,
                assignment_id=candidacy.assignment_id,
                proposal_id=proposal_id,
                client_id=candidacy.client_id,
                agency_id=candidacy.agency_id,
                consultant_id=candidacy.consultant_id,
                accepted_by=principal.user_id,
                created_at=now,
                updated_at=now,
                terms=terms_from_acceptance(candidacy, assignment),
            )
            updated = replace(updated, engagement_id=engagement.engagement_id)
            changes.insert(engagement)
        changes.transition(updated, candidacy.status.value, revision=candidacy.revision)
        # A declined candidate's consents and interviews end with it; an accepted one's consents stay (the
        # contract builds on them) and only interviews still being arranged are called off.
        if not accept:
            void_consents(ports, candidacy, changes, principal.user_id, now, None)
        cancel_open_interviews(ports, candidacy, changes, now, reason=target.value, only_requested=accept)
        title = assignment.title if assignment else ""
        link = f"{ports.assignments.accounts.web_base_url}/candidacies/{candidacy.candidacy_id}"
        kind = "candidate_accepted" if accept else "candidate_declined"
        for user in party_recipients(ports, candidacy):
            params = {
                "recipient_name": user.name,
                "assignment_title": title,
                "client_name": client_name(ports, candidacy.client_id),
                "reason": reason or "",
                "link": link,
            }
            notify(changes, user, kind, params, now, object_type="candidacy", object_id=candidacy.candidacy_id)
        return updated, changes

    return update_candidacy(ports, candidacy_id, change)


def revoke_from_client(ports: CandidacyPorts) -> OnWithdraw:
    """What a withdrawal after sending adds to its transaction: the client is told, and open interviews are
    cancelled with calendar cancellations to everyone invited."""

    def on_withdraw(before: Candidacy, after: Candidacy, changes: Changes, now: datetime) -> None:
        if before.status not in DISCLOSED:
            return
        cancel_open_interviews(ports, before, changes, now, reason="withdrawn")
        assignment = ports.assignments.assignments.get_assignment(before.assignment_id)
        profile = ports.profiles.get_profile(before.consultant_id)
        link = f"{ports.assignments.accounts.web_base_url}/proposals/{before.proposal_id}"
        for user in client_recipients(ports, before.client_id):
            params = {
                "recipient_name": user.name,
                "assignment_title": assignment.title if assignment else "",
                "candidate_name": redacted_name(profile.name) if profile else "",
                "link": link,
            }
            notify(changes, user, "candidate_withdrawn", params, now, object_type="proposal", object_id=before.proposal_id)

    return on_withdraw
