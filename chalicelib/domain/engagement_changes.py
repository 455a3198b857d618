"""Changes to an active engagement: an extension, an early end, a new extent or rate.

Either side proposes (the client's users on one side; the consultant or the agency's admins on the
other), and the change needs the agreement of all three parties: the client, the agency (it is the
platform's contract party) and the consultant (it is their time). Once all agreed, it is put in writing as
an addendum to each of the two contracts, signed through the same signature flow; when both addenda are
signed, the engagement's terms change. A change's new extent and rate apply from its effective day on
(invoicing prices each day at the rate in force that day); its end date replaces the old one.

    proposed → signing → signed
    proposed → declined | withdrawn | lapsed
    signing → withdrawn | lapsed          (an addendum that ends unsigned can be sent again)

An engagement has at most one open (proposed or signing) change at a time, named on the engagement, so
that two changes never build on the same terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from chalicelib.domain.contracts import ContractParty, EngagementTerms, Pricing, RateChange
from chalicelib.errors import Conflict, FieldIssue

REASON_MAX_CHARS = 2000


class ChangeParty(StrEnum):
    """Whose agreement a change needs."""

    CLIENT = "client"
    AGENCY = "agency"
    CONSULTANT = "consultant"


class ChangeStatus(StrEnum):
    PROPOSED = "proposed"  # waiting for the other parties' answers
    SIGNING = "signing"  # agreed by all three: its addenda are out for signature
    SIGNED = "signed"  # both addenda signed: the engagement's terms changed
    DECLINED = "declined"  # a party said no
    WITHDRAWN = "withdrawn"  # by its proposer, or by staff
    LAPSED = "lapsed"  # the engagement ended (or was changed otherwise) first


OPEN = frozenset({ChangeStatus.PROPOSED, ChangeStatus.SIGNING})


class ChangeKind(StrEnum):
    EXTENSION = "extension"
    EARLY_END = "early_end"
    TERMS = "terms"  # the same end date, another extent or rate


@dataclass(frozen=True)
class ProposedTerms:
    """What a change sets. ``share_of_full_time`` and ``rate_minor`` are None when unchanged; both apply from
    ``effective_from`` (required when either is set)."""

    end_date: date
    share_of_full_time: int | None = None
    rate_minor: int | None = None
    effective_from: date | None = None

    def kind(self, terms: EngagementTerms) -> ChangeKind:
        if self.end_date > terms.end_date:
            return ChangeKind.EXTENSION
        if self.end_date < terms.end_date:
            return ChangeKind.EARLY_END
        return ChangeKind.TERMS

    def issues(self, terms: EngagementTerms, today: date) -> list[FieldIssue]:
        """Why the change cannot apply to ``terms`` proposed on ``today`` (empty when it can)."""
        found: list[FieldIssue] = []
        if self.end_date < max(today, terms.start_date):
            found.append(FieldIssue("end_date", "is before today or before the engagement's start"))
        if self.rate_minor is not None and terms.pricing is Pricing.FIXED:
            found.append(FieldIssue("rate_minor", "a fixed-fee engagement has no rate; change its milestones by a new engagement"))
        changes_from_a_day = self.rate_minor is not None or self.share_of_full_time is not None
        if changes_from_a_day and self.effective_from is None:
            found.append(FieldIssue("effective_from", "required when the extent or the rate changes"))
        if not changes_from_a_day and self.effective_from is not None:
            found.append(FieldIssue("effective_from", "only a new extent or rate applies from a day"))
        if self.effective_from is not None and not max(today, terms.start_date) <= self.effective_from <= self.end_date:
            found.append(FieldIssue("effective_from", "must be between today (or the start) and the new end date"))
        if self.rate_minor is not None and terms.rate_changes and self.effective_from is not None:
            latest = terms.rate_changes[-1].effective_from
            if self.effective_from < latest:
                # The addendum states one rate from its day on; a rate agreed from a later day would still apply.
                found.append(FieldIssue("effective_from", f"a rate is agreed from {latest.isoformat()}: a new one starts then or later"))
        if terms.pricing is Pricing.FIXED and self.end_date < max(m.due_date for m in terms.milestones):
            found.append(FieldIssue("end_date", "a milestone of the fixed fee is due after it: the fee is changed by a new engagement"))
        if self.share_of_full_time is not None and self.share_of_full_time == terms.share_of_full_time:
            found.append(FieldIssue("share_of_full_time", "is the current extent"))
        rate_now = terms.rate_on(self.effective_from or today) if terms.rate_minor is not None else None
        if self.rate_minor is not None and self.rate_minor == rate_now:
            found.append(FieldIssue("rate_minor", "is the rate in force then"))
        if self.end_date == terms.end_date and self.share_of_full_time is None and self.rate_minor is None:
            found.append(FieldIssue("end_date", "the change changes nothing"))
        return found

    def applied_to(self, terms: EngagementTerms) -> EngagementTerms:
        """The terms with this change made: a new rate is added as of its day (replacing one agreed for the same
        day; one agreed for a later day still applies from that day, as its own addendum says)."""
        rate_changes = terms.rate_changes
        if self.rate_minor is not None:
            assert self.effective_from is not None
            others = [c for c in rate_changes if c.effective_from != self.effective_from]
            rate_changes = tuple(sorted([*others, RateChange(self.effective_from, self.rate_minor)], key=lambda c: c.effective_from))
        return replace(
            terms,
            end_date=self.end_date,
            share_of_full_time=self.share_of_full_time or terms.share_of_full_time,
            rate_changes=rate_changes,
        )


@dataclass(frozen=True)
class ChangeAnswer:
    agreed: bool
    actor_id: str
    at: datetime
    reason: str | None = None  # for a no


@dataclass
class EngagementChange:
    change_id: str
    engagement_id: str
    proposed_by: str
    proposed_as: ChangeParty
    proposed_at: datetime
    updated_at: datetime
    previous: EngagementTerms  # the engagement's terms it changes (printed on the addenda beside the new ones)
    proposed: ProposedTerms
    reason: str  # why, in the proposer's words
    status: ChangeStatus = ChangeStatus.PROPOSED
    revision: int = 0
    answers: dict[ChangeParty, ChangeAnswer] = field(default_factory=dict)  # the proposer's agreement included
    agreed_at: datetime | None = None
    addenda: dict[ContractParty, str] = field(default_factory=dict)  # the current addendum per contract party
    signed: frozenset[ContractParty] = frozenset()  # contract parties whose current addendum is signed
    signed_at: datetime | None = None
    closed_at: datetime | None = None  # declined, withdrawn or lapsed
    closed_by: str | None = None
    close_reason: str | None = None

    @property
    def kind(self) -> ChangeKind:
        return self.proposed.kind(self.previous)

    @property
    def new_terms(self) -> EngagementTerms:
        return self.proposed.applied_to(self.previous)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def waiting_for(self) -> frozenset[ChangeParty]:
        return frozenset(ChangeParty) - self.answers.keys()

    def answered(self, party: ChangeParty, answer: ChangeAnswer, now: datetime) -> EngagementChange:
        """The change with ``party``'s answer: agreed by all (signing), declined on a no."""
        if self.status is not ChangeStatus.PROPOSED:
            raise Conflict(f"The change is {self.status.value}.", current_state=self.status.value)
        if party in self.answers:
            raise Conflict(f"The {party.value} has answered already.", current_state=self.status.value)
        answers = {**self.answers, party: answer}
        updated = replace(self, answers=answers, revision=self.revision + 1, updated_at=now)
        if not answer.agreed:
            return replace(updated, status=ChangeStatus.DECLINED, closed_at=now, closed_by=answer.actor_id, close_reason=answer.reason)
        if not updated.waiting_for:
            return replace(updated, status=ChangeStatus.SIGNING, agreed_at=now)
        return updated

    def closed(self, status: ChangeStatus, by: str, reason: str | None, now: datetime) -> EngagementChange:
        if not self.is_open:
            raise Conflict(f"The change is {self.status.value}.", current_state=self.status.value)
        return replace(self, status=status, closed_at=now, closed_by=by, close_reason=reason, revision=self.revision + 1, updated_at=now)
