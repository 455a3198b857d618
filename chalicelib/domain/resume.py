"""The resume: a personal letter and items in parts (education, experience, skills, portfolio, awards,
certificates), each item owned by one consultant and edited on its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ResumePart(StrEnum):
    LETTER = "letter"  # at most one item
    EDUCATION = "education"
    EXPERIENCE = "experience"
    SKILLS = "skills"
    PORTFOLIO = "portfolio"
    AWARDS = "awards"
    CERTIFICATES = "certificates"


class ResumeItemStatus(StrEnum):
    ACTIVE = "active"


# How many items a part may hold: bounded, so one resume cannot grow without limit.
MAX_ITEMS = {ResumePart.LETTER: 1, ResumePart.SKILLS: 200}
DEFAULT_MAX_ITEMS = 100
LETTER_ITEM_ID = "LETTER"
# The largest JSON Resume document an import takes. A whole resume can outgrow the 64 KB that is plenty
# for a form: 100 positions with long descriptions reach several hundred KB. 1 MiB is far above any real
# resume (JSON Resume's sample is 6 KB), well within Lambda's 6 MB payload, and bounds what one import may
# make us parse, validate and store.
MAX_IMPORT_BYTES = 1024 * 1024


@dataclass
class ResumeItem:
    user_id: str
    part: ResumePart
    item_id: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
    content: dict[str, Any] = field(default_factory=dict)  # the validated fields of the part, as JSON
    status: ResumeItemStatus = ResumeItemStatus.ACTIVE
    # From a JSON Resume import: the entry's fields the part has no place for, and values as written
    # (a partial date, a level word), given back by an export. Kept across form edits of the item.
    imported: dict[str, Any] | None = None
