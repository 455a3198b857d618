"""Request and response models of changes to an engagement (extension, early end, extent, rate)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from chalicelib.domain.engagement_changes import REASON_MAX_CHARS, ChangeKind, ChangeParty, ChangeStatus, EngagementChange
from chalicelib.schemas.base import RequestModel, ResponseModel, ShortText
from chalicelib.schemas.contracts import Amount, ContractOut, Provider, TermsOut

Reason = Annotated[str, StringConstraints(min_length=1, max_length=REASON_MAX_CHARS)]


class ProposeChangeIn(RequestModel):
    end_date: date = Field(description="the new last day: later for an extension, earlier (today at the soonest) for an early end")
    share_of_full_time: int | None = Field(None, ge=1, le=100, description="a new extent, percent of full time; left out: unchanged")
    rate_minor: Amount | None = Field(
        None, gt=0, description="a new client's price per hour or day (not for a fixed fee); left out: unchanged"
    )
    effective_from: date | None = Field(None, description="the day a new extent or rate applies from (required with either)")
    reason: Reason = Field(description="why, for the other parties")


class DeclineChangeIn(RequestModel):
    reason: ShortText


class WithdrawChangeIn(RequestModel):
    reason: ShortText


class SendAddendaIn(RequestModel):
    provider: Provider | None = Field(None, description="the signature provider; the platform's default when left out")


class ChangeAnswerOut(ResponseModel):
    party: ChangeParty
    agreed: bool
    actor_id: str
    at: datetime
    reason: str | None


class ChangeRecordOut(ResponseModel):
    """A change as it is stored (the export's view, without the documents)."""

    change_id: str
    engagement_id: str
    kind: ChangeKind
    status: ChangeStatus
    proposed_by: str
    proposed_as: ChangeParty
    proposed_at: datetime
    reason: str
    end_date: date
    share_of_full_time: int | None
    rate_minor: int | None
    effective_from: date | None
    answers: list[ChangeAnswerOut]
    closed_at: datetime | None
    close_reason: str | None


def change_record_out(change: EngagementChange) -> ChangeRecordOut:
    return ChangeRecordOut(
        change_id=change.change_id,
        engagement_id=change.engagement_id,
        kind=change.kind,
        status=change.status,
        proposed_by=change.proposed_by,
        proposed_as=change.proposed_as,
        proposed_at=change.proposed_at,
        reason=change.reason,
        end_date=change.proposed.end_date,
        share_of_full_time=change.proposed.share_of_full_time,
        rate_minor=change.proposed.rate_minor,
        effective_from=change.proposed.effective_from,
        answers=_answers_out(change),
        closed_at=change.closed_at,
        close_reason=change.close_reason,
    )


def _answers_out(change: EngagementChange) -> list[ChangeAnswerOut]:
    return [
        ChangeAnswerOut(party=party, agreed=a.agreed, actor_id=a.actor_id, at=a.at, reason=a.reason)
        for party, a in sorted(change.answers.items())
    ]


class ChangeResponse(ChangeRecordOut):
    """A change with the terms before and after it, who is still asked, and the caller's addenda."""

    previous_terms: TermsOut
    new_terms: TermsOut = Field(description="the engagement's terms once the change is signed")
    waiting_for: list[ChangeParty]
    agreed_at: datetime | None
    signed_at: datetime | None
    addenda: list[ContractOut] = Field(description="the current addendum of each contract I am a party to")


class ChangeListResponse(ResponseModel):
    items: list[ChangeResponse]
