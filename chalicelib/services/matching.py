"""Keeping the search index true to the consultants: who may be found, and as what.

Only an active consultant with a saved profile and the platform-processing consent in force is indexed;
anything else (a withdrawal, a disabled or erased account, a deleted profile) removes them. Every change
to a consultant's profile, resume, account or consents reaches ``reindex_consultant`` from the main
table's stream; ``reindex_all`` rebuilds the index from the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.accounts import UserStatus
from chalicelib.domain.consent import ConsentPurpose, in_force
from chalicelib.domain.identity import Role
from chalicelib.matching.candidates import Candidate, candidate_from
from chalicelib.matching.index import MatchIndex
from chalicelib.services.ports import AccountRepository, ConsentLedger, ProfileRepository


@dataclass(frozen=True)
class IndexingPorts:
    accounts: AccountRepository
    profiles: ProfileRepository
    ledger: ConsentLedger
    index: MatchIndex


def findable_candidate(ports: IndexingPorts, user_id: str) -> Candidate | None:
    """The consultant as the index should hold them, or None when they must not be findable."""
    user = ports.accounts.get_user(user_id)
    if user is None or user.status is not UserStatus.ACTIVE or Role.CONSULTANT not in user.roles:
        return None
    profile = ports.profiles.get_profile(user_id)
    if profile is None or not in_force(ports.ledger.list_for_subject(user_id), ConsentPurpose.PLATFORM_PROCESSING):
        return None
    return candidate_from(profile, ports.profiles.list_resume_items(user_id))


def reindex_consultant(ports: IndexingPorts, user_id: str) -> bool:
    """Upserts or removes one consultant; idempotent. Returns whether they are findable now."""
    candidate = findable_candidate(ports, user_id)
    if candidate is None:
        ports.index.delete(user_id)
        return False
    ports.index.upsert(candidate)
    return True


def reindex_all(ports: IndexingPorts) -> int:
    """Every consultant again (after a change of the taxonomy or of the index layout). Returns how many
    are findable."""
    return sum(reindex_consultant(ports, user.user_id) for user in ports.accounts.list_consultants())
