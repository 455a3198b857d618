"""Contract PDFs and their addenda, drawn from the plain-text templates in ``templates/``, and the signing
evidence page.

Templates
---------
``templates/<party>.<language>.txt`` for the contracts and ``templates/addendum-<party>.<language>.txt``
for the addenda that change them (party ``agency`` or ``client``, language ``sv`` or ``en``) use a tiny
line-based markup, read line by line before any value is inserted:

``# Title``
    The document title (bold, large). One line.
``## Heading``
    A section heading (bold), numbered by the renderer: "1. Parties", "2. Background", ...
``- text``
    A bullet. Following lines that are not blank and start no other construct continue the bullet.
``{{fees}}``
    In a contract, on a line of its own: the pricing block (the rate breakdown, or the milestones table for
    a fixed fee).
``{{changes}}``
    In an addendum, on a line of its own: the table of the terms that change, as until now and as amended
    (the rate broken down as in the contract).
    A contract accepts only ``{{fees}}`` and an addendum only ``{{changes}}``: any other ``{{...}}`` line
    is an error, so that a mistyped directive is not printed or dropped.
blank line
    Ends a paragraph or a bullet. Other lines are paragraph text; consecutive ones join with a space, so
    templates can be wrapped freely.

Values go in through ``string.Template`` placeholders (``$name``) inside each block, *after* the
structure is read: a value is always plain text within its block, so a title with ``**`` or ``#`` prints
literally and a value with newlines cannot open a section (in paragraphs its line breaks are kept as
line breaks, elsewhere they become spaces). A placeholder without a value raises ``MissingPlaceholder``,
never prints a blank. The ``sv`` and ``en`` versions of a template use the same placeholders (a unit test
holds that).

PDF
---
fpdf2 draws (A4, DejaVu Sans embedded and subset, since the core PDF fonts are Latin-1 only; a character
the font lacks prints as "?"), and pypdf appends the evidence page. Both are imported inside the
functions: they cost a Lambda cold start and only the contract flow needs them. The output is
byte-for-byte reproducible from its inputs (creation date from the view, no random ids), because the
documents' SHA-256 hashes are recorded and a retry must produce the same document.
"""

from __future__ import annotations

import functools
import hashlib
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.domain.contracts import (
    COUNTERPARTY_RECIPIENT,
    PLATFORM_RECIPIENT,
    SIGN_HERE_ANCHOR,
    ContractParty,
    EngagementTerms,
    Pricing,
    SignatureEvidence,
    SignerRole,
)
from chalicelib.domain.engagement_changes import ProposedTerms
from chalicelib.domain.money import BASIS_POINTS, commission_of

if TYPE_CHECKING:
    from fpdf import FPDF

LANGUAGES = ("sv", "en")
FALLBACK_LANGUAGE = "en"

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = _HERE / "templates"
FONTS_DIR = _HERE / "fonts"
_FAMILY = "DejaVu"
_REGULAR = FONTS_DIR / "DejaVuSans.ttf"
_BOLD = FONTS_DIR / "DejaVuSans-Bold.ttf"

FEES_DIRECTIVE = "{{fees}}"
CHANGES_DIRECTIVE = "{{changes}}"
_MAX_USER_AGENT = 160  # characters: a user agent is evidence, not content, and some are kilobytes long
# The body's page-count alias: fpdf2 replaces its alias wherever it is printed, so the body uses one that
# no printed text can contain (control characters become spaces) and only the footer uses the real one.
_INERT_ALIAS = "\x00"
_PAGE_ALIAS = "{nb}"


class MissingPlaceholder(KeyError):
    """A template was rendered without a value for one of its placeholders."""


def language_of(language: str) -> str:
    return language if language in LANGUAGES else FALLBACK_LANGUAGE


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# --- formatting ---


def format_money(amount_minor: int, currency: str, language: str) -> str:
    """``1 234,50 SEK`` in Swedish, ``1,234.50 SEK`` in English. Every currency offered has two decimals."""
    units, cents = divmod(abs(amount_minor), 100)
    sign = "-" if amount_minor < 0 else ""
    if language_of(language) == "sv":
        return f"{sign}{units:,}".replace(",", " ") + f",{cents:02d} {currency}"
    return f"{sign}{units:,}.{cents:02d} {currency}"


def format_percent(basis_points: int, language: str) -> str:
    """1500 → ``15 %`` / ``15%``; 1250 → ``12,5 %`` / ``12.5%``."""
    value = Decimal(basis_points) * 100 / BASIS_POINTS
    text = format(value.normalize(), "f")
    if language_of(language) == "sv":
        return text.replace(".", ",") + " %"
    return text + "%"


def format_extent(share_of_full_time: int, language: str) -> str:
    """A share of full time in percent, as a percentage: 80 → ``80 %`` / ``80%``."""
    return format_percent(share_of_full_time * BASIS_POINTS // 100, language)


def format_date(day: date) -> str:
    # ISO in both languages: the Swedish standard form, and unambiguous to an English reader.
    return day.isoformat()


def as_utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC, as the platform stores them (never as the machine's local time)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """UTC, ISO 8601 to the second."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- templates ---


class BlockKind(StrEnum):
    TITLE = "title"
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    BULLET = "bullet"
    FEES = "fees"
    CHANGES = "changes"


class DocumentKind(StrEnum):
    CONTRACT = "contract"
    ADDENDUM = "addendum"


# The directives each kind of document may use: a directive another kind draws would be left unhandled.
_DIRECTIVES: dict[DocumentKind, dict[str, BlockKind]] = {
    DocumentKind.CONTRACT: {FEES_DIRECTIVE: BlockKind.FEES},
    DocumentKind.ADDENDUM: {CHANGES_DIRECTIVE: BlockKind.CHANGES},
}


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str = ""


def template_path(party: ContractParty, language: str, kind: DocumentKind = DocumentKind.CONTRACT) -> Path:
    stem = party.value if kind is DocumentKind.CONTRACT else f"{kind.value}-{party.value}"
    return TEMPLATES_DIR / f"{stem}.{language_of(language)}.txt"


def load_template(party: ContractParty, language: str, kind: DocumentKind = DocumentKind.CONTRACT) -> str:
    return template_path(party, language, kind).read_text(encoding="utf-8")


def placeholders(source: str) -> frozenset[str]:
    return frozenset(string.Template(source).get_identifiers())


def parse_template(source: str, kind: DocumentKind = DocumentKind.CONTRACT) -> tuple[Block, ...]:
    """The template's blocks, placeholders still in them. Only ``kind``'s directives are accepted."""
    directives = _DIRECTIVES[kind]
    blocks: list[Block] = []
    current: list[str] = []
    current_kind = BlockKind.PARAGRAPH

    def close() -> None:
        nonlocal current
        if current:
            blocks.append(Block(current_kind, " ".join(current)))
        current = []

    for number, raw in enumerate(source.splitlines(), start=1):
        line = raw.strip()
        if not line:
            close()
        elif raw.startswith("# "):
            close()
            blocks.append(Block(BlockKind.TITLE, line[2:].strip()))
        elif raw.startswith("## "):
            close()
            blocks.append(Block(BlockKind.HEADING, line[3:].strip()))
        elif raw.startswith("- "):
            close()
            current_kind = BlockKind.BULLET
            current = [line[2:].strip()]
        elif line.startswith("{{"):
            if line not in directives:
                raise ValueError(f"line {number}: unknown directive {line!r} in a {kind.value} template")
            close()
            blocks.append(Block(directives[line]))
        else:
            if not current:
                current_kind = BlockKind.PARAGRAPH
            current.append(line)
    close()
    return tuple(blocks)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _line_broken(value: str) -> str:
    """A value inside a paragraph: its own line breaks stay, but no blank line, which would read as a new
    paragraph, and no other layout whitespace."""
    return "\n".join(_one_line(line) for line in value.splitlines() if line.strip())


def fill_template(source: str, values: Mapping[str, str], kind: DocumentKind = DocumentKind.CONTRACT) -> tuple[Block, ...]:
    """The template's blocks with ``values`` in their placeholders. Raises ``MissingPlaceholder``."""
    single = {name: _one_line(value) for name, value in values.items()}
    broken = {name: _line_broken(value) for name, value in values.items()}
    filled: list[Block] = []
    for block in parse_template(source, kind):
        mapping = broken if block.kind is BlockKind.PARAGRAPH else single
        try:
            text = string.Template(block.text).substitute(mapping)
        except KeyError as exc:
            raise MissingPlaceholder(f"the {kind.value} template needs a value for {exc.args[0]!r}") from None
        filled.append(Block(block.kind, text))
    return tuple(filled)


# --- the view ---


@dataclass(frozen=True)
class ContractView:
    """Everything printed on a contract, as plain data."""

    party: ContractParty
    language: str  # "sv" | "en" (anything else falls back to "en")
    reference: str  # e.g. "CO-<contract_id>-v1", printed in the header and footer of every page
    issued_on: date
    platform_name: str
    platform_org_number: str
    counterparty_name: str  # the agency's or the client company's name
    counterparty_org_number: str
    counterparty_signer_name: str
    platform_signer_name: str
    agency_name: str  # the supplier (printed in the client contract too)
    client_name: str  # printed in the agency contract too
    consultant_name: str
    assignment_title: str
    terms: EngagementTerms


@dataclass(frozen=True)
class AddendumView:
    """Everything printed on an addendum to one of an engagement's contracts, as plain data."""

    party: ContractParty
    language: str  # "sv" | "en" (anything else falls back to "en")
    reference: str  # the addendum's own, e.g. "AD-<id>-v1", printed in the header and footer of every page
    contract_reference: str  # the signed contract it amends, e.g. "CO-<contract_id>-v1"
    issued_on: date
    platform_name: str
    platform_org_number: str
    counterparty_name: str
    counterparty_org_number: str
    counterparty_signer_name: str
    platform_signer_name: str
    agency_name: str
    client_name: str
    consultant_name: str
    assignment_title: str
    previous: EngagementTerms  # the terms in force before the change
    proposed: ProposedTerms  # what changes: only the terms that differ from ``previous`` are printed


def _party_values(view: ContractView | AddendumView) -> dict[str, str]:
    """The values every document of an engagement prints: its own reference and date, the parties, the
    signers and the assignment."""
    return {
        "reference": view.reference,
        "issued_on": format_date(view.issued_on),
        "platform_name": view.platform_name,
        "platform_org_number": view.platform_org_number,
        "platform_signer_name": view.platform_signer_name,
        "counterparty_name": view.counterparty_name,
        "counterparty_org_number": view.counterparty_org_number,
        "counterparty_signer_name": view.counterparty_signer_name,
        "agency_name": view.agency_name,
        "client_name": view.client_name,
        "consultant_name": view.consultant_name,
        "assignment_title": view.assignment_title,
    }


def template_values(view: ContractView) -> dict[str, str]:
    language = language_of(view.language)
    terms = view.terms
    return {
        **_party_values(view),
        "scope": terms.scope,
        "start_date": format_date(terms.start_date),
        "end_date": format_date(terms.end_date),
        "extent": format_extent(terms.share_of_full_time, language),
        "commission": format_percent(terms.commission_bps, language),
        "payment_terms_days": str(terms.payment_terms_days),
        "currency": terms.currency,
    }


def addendum_values(view: AddendumView) -> dict[str, str]:
    """The addendum template's values. Templates have no conditionals, so the sentence that says what kind of
    change it is (an extension, an early end by agreement, other terms) comes in as one."""
    labels = _LABELS[language_of(view.language)]
    kind = view.proposed.kind(view.previous)
    summary = labels[f"change_{kind.value}"].format(
        end_date=format_date(view.proposed.end_date), previous_end_date=format_date(view.previous.end_date)
    )
    return {
        **_party_values(view),
        "contract_reference": view.contract_reference,
        "change_summary": summary,
        "commission": format_percent(view.previous.commission_bps, view.language),
    }


_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "page": "Page {page} of {pages}",
        "pricing": "Pricing",
        "hourly": "Hourly rate",
        "daily": "Daily rate",
        "fixed": "Fixed fee in milestones",
        "hour": "per hour",
        "day": "per day",
        "price": "Client's price {unit}",
        "commission": "Customersonly's commission ({percent}) {unit}",
        "net": "Supplier's fee (agency net) {unit}",
        "milestone_no": "#",
        "milestone": "Milestone",
        "due": "Due date",
        "amount": "Amount",
        "total": "Total fixed fee",
        "commission_total": "Customersonly's commission ({percent}) on the total",
        "net_total": "Supplier's fee (agency net) of the total",
        "vat": "All amounts in {currency}, exclusive of VAT.",
        "term": "Term",
        "until_now": "Until now",
        "as_amended": "As amended",
        "end_date": "End date",
        "extent": "Extent (share of full time)",
        "from_day": "{term}, from {day}",
        "change_extension": "The Parties agree to extend the Assignment: it ends on {end_date} instead of {previous_end_date}.",
        "change_early_end": (
            "The Parties agree to end the Assignment early: it ends on {end_date} instead of {previous_end_date}. The early "
            "end is made by mutual agreement; it is not a termination under the Agreement, and no period of notice applies."
        ),
        "change_terms": "The Parties agree to change the terms of the Assignment set out below; it still ends on {end_date}.",
        "evidence_title": "Signing evidence",
        "evidence_intro": (
            "This page records the electronic signatures of the agreement {reference}. It was appended after "
            "the last signature; the pages before it are unchanged, and their SHA-256 hash is stated below."
        ),
        "document_hash": "SHA-256 of the signed document",
        "completed": "Signing completed (UTC)",
        "signature": "Signature {number} of {count}",
        "signer": "Signer",
        "email": "E-mail",
        "role": "Role",
        "counterparty": "Counterparty",
        "platform": "Customersonly",
        "typed_name": "Name typed as signature",
        "signed_at": "Signed at (UTC)",
        "ip": "IP address",
        "user_agent": "User agent",
        "reviewed": "SHA-256 of the document reviewed",
        "matches": "Same as the signed document",
        "yes": "Yes",
        "no": "No",
        "unknown": "not recorded",
    },
    "sv": {
        "page": "Sida {page} av {pages}",
        "pricing": "Prismodell",
        "hourly": "Timpris",
        "daily": "Dagpris",
        "fixed": "Fast pris i delleveranser",
        "hour": "per timme",
        "day": "per dag",
        "price": "Kundpris {unit}",
        "commission": "Customersonlys provision ({percent}) {unit}",
        "net": "Leverantörens arvode (konsultbolagets netto) {unit}",
        "milestone_no": "Nr",
        "milestone": "Delleverans",
        "due": "Förfallodag",
        "amount": "Belopp",
        "total": "Fast pris totalt",
        "commission_total": "Customersonlys provision ({percent}) på totalen",
        "net_total": "Leverantörens arvode (konsultbolagets netto) av totalen",
        "vat": "Alla belopp i {currency}, exklusive moms.",
        "term": "Villkor",
        "until_now": "Hittills",
        "as_amended": "Efter ändringen",
        "end_date": "Slutdatum",
        "extent": "Omfattning (andel av heltid)",
        "from_day": "{term}, från och med {day}",
        "change_extension": (
            "Parterna är överens om att förlänga Uppdraget: det slutar den {end_date} i stället för den {previous_end_date}."
        ),
        "change_early_end": (
            "Parterna är överens om att avsluta Uppdraget i förtid: det slutar den {end_date} i stället för den "
            "{previous_end_date}. Det förtida upphörandet sker genom överenskommelse; det är ingen uppsägning enligt "
            "Avtalet, och ingen uppsägningstid tillämpas."
        ),
        "change_terms": "Parterna är överens om att ändra de villkor för Uppdraget som anges nedan; det slutar fortfarande den {end_date}.",
        "evidence_title": "Underskrifter och bevis",
        "evidence_intro": (
            "Denna sida redovisar de elektroniska underskrifterna av avtalet {reference}. Den bifogades efter "
            "den sista underskriften; sidorna före den är oförändrade, och deras SHA-256-kontrollsumma anges nedan."
        ),
        "document_hash": "SHA-256 för det undertecknade dokumentet",
        "completed": "Undertecknandet slutfört (UTC)",
        "signature": "Underskrift {number} av {count}",
        "signer": "Undertecknare",
        "email": "E-post",
        "role": "Roll",
        "counterparty": "Motpart",
        "platform": "Customersonly",
        "typed_name": "Namn skrivet som underskrift",
        "signed_at": "Undertecknat (UTC)",
        "ip": "IP-adress",
        "user_agent": "Webbläsare (user agent)",
        "reviewed": "SHA-256 för det granskade dokumentet",
        "matches": "Samma som det undertecknade dokumentet",
        "yes": "Ja",
        "no": "Nej",
        "unknown": "inte registrerad",
    },
}


def pricing_rows(terms: EngagementTerms, language: str) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """The pricing block as text: the milestones (number, title, due date, amount; empty unless a fixed fee)
    and the breakdown rows (label, value)."""
    labels = _LABELS[language_of(language)]
    money = functools.partial(format_money, currency=terms.currency, language=language)
    percent = format_percent(terms.commission_bps, language)
    if terms.pricing is Pricing.FIXED:
        milestones = [
            (str(number), _one_line(m.title), format_date(m.due_date), money(m.amount_minor))
            for number, m in enumerate(terms.milestones, start=1)
        ]
        return milestones, [
            (labels["pricing"], labels["fixed"]),
            (labels["total"], money(terms.price_minor)),
            (labels["commission_total"].format(percent=percent), money(terms.commission_minor)),
            (labels["net_total"].format(percent=percent), money(terms.agency_net_minor)),
        ]
    unit = _per_unit(terms.pricing, labels)
    return [], [
        (labels["pricing"], labels[terms.pricing.value]),
        (labels["price"].format(unit=unit), money(terms.price_minor)),
        (labels["commission"].format(percent=percent, unit=unit), money(terms.commission_minor)),
        (labels["net"].format(unit=unit), money(terms.agency_net_minor)),
    ]


def _per_unit(pricing: Pricing, labels: Mapping[str, str]) -> str:
    return labels["hour"] if pricing is Pricing.HOURLY else labels["day"]


def _term_rows(previous: EngagementTerms, proposed: ProposedTerms, language: str) -> list[tuple[str, str, str]]:
    """The end date and extent rows of an addendum's table (term, until now, as amended), each only if it
    changes."""
    labels = _LABELS[language_of(language)]
    rows = []
    if proposed.end_date != previous.end_date:
        rows.append((labels["end_date"], format_date(previous.end_date), format_date(proposed.end_date)))
    extent = proposed.share_of_full_time
    if extent is not None and extent != previous.share_of_full_time:
        assert proposed.effective_from is not None, "a new extent applies from a day"
        rows.append(
            (
                labels["from_day"].format(term=labels["extent"], day=format_date(proposed.effective_from)),
                format_extent(previous.share_of_full_time, language),
                format_extent(extent, language),
            )
        )
    return rows


def _rate_rows(previous: EngagementTerms, proposed: ProposedTerms, language: str) -> list[tuple[str, str, str]]:
    """An addendum's rows for a new rate, as the contract breaks a rate down (client's price, commission,
    agency net per unit), against the rate that would have applied on its day; none if the rate stays."""
    rate = proposed.rate_minor
    if rate is None:
        return []
    assert proposed.effective_from is not None, "a new rate applies from a day"
    rate_until_now = previous.rate_on(proposed.effective_from)
    if rate == rate_until_now:
        return []
    labels = _LABELS[language_of(language)]
    money = functools.partial(format_money, currency=previous.currency, language=language)
    unit = _per_unit(previous.pricing, labels)
    day = format_date(proposed.effective_from)
    bps = previous.commission_bps
    commission_until_now, commission = commission_of(rate_until_now, bps), commission_of(rate, bps)
    return [
        (labels["from_day"].format(term=term, day=day), money(until_now), money(amended))
        for term, until_now, amended in (
            (labels["price"].format(unit=unit), rate_until_now, rate),
            (labels["commission"].format(percent=format_percent(bps, language), unit=unit), commission_until_now, commission),
            (labels["net"].format(unit=unit), rate_until_now - commission_until_now, rate - commission),
        )
    ]


# --- drawing ---

_LINE = 5.0  # mm per line of body text
_GREY = 110
_EVIDENCE_WIDTHS = (48.0, 122.0)  # the value column holds a SHA-256 in hex on one line at 8.5 pt
_CHANGES_WIDTHS = (100.0, 35.0, 35.0)  # an addendum's table: the term, until now, as amended


@functools.cache
def _document_class() -> Callable[..., FPDF]:
    """The FPDF subclass with the contracts' header and footer, defined on first use so that fpdf is
    imported only when a contract is drawn."""
    from fpdf import FPDF

    class ContractDocument(FPDF):
        def __init__(self, *, reference: str, issuer: str, language: str, created: datetime) -> None:
            super().__init__(orientation="portrait", unit="mm", format="A4")
            language = language_of(language)
            self.page_label = _LABELS[language]["page"]
            self.set_creation_date(created)
            self.set_lang(language)
            self.set_margins(left=20, top=22, right=20)
            self.set_auto_page_break(auto=True, margin=22)
            self.add_font(_FAMILY, "", str(_REGULAR))
            self.add_font(_FAMILY, "B", str(_BOLD))
            supported = _supported_characters(self)
            self.issuer = _printable(issuer, supported)
            self.reference = _printable(_one_line(reference), supported)
            self.alias_nb_pages(_INERT_ALIAS)

        def header(self) -> None:
            self.set_font(_FAMILY, "", 8)
            self.set_text_color(_GREY)
            self.set_xy(self.l_margin, 10)
            self.cell(w=self.epw / 2, h=4, text=self.issuer, new_x="RIGHT", new_y="TOP")
            self.cell(w=self.epw / 2, h=4, text=self.reference, align="R", new_x="LMARGIN", new_y="NEXT")
            self.set_draw_color(190)
            self.line(self.l_margin, 15, self.w - self.r_margin, 15)
            self.set_text_color(0)
            self.set_y(self.t_margin)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font(_FAMILY, "", 8)
            self.set_text_color(_GREY)
            label = self.page_label.format(page=self.page_no(), pages=_PAGE_ALIAS)
            self.alias_nb_pages(_PAGE_ALIAS)
            try:
                self.cell(w=0, h=4, text=f"{self.reference} · {label}", align="C")
            finally:
                self.alias_nb_pages(_INERT_ALIAS)
            self.set_text_color(0)

    return ContractDocument


def _supported_characters(document: FPDF) -> frozenset[str]:
    """The characters both embedded fonts draw: anything else would print as an empty box, or not at all."""
    covered: set[str] | None = None
    for key in (_FAMILY.lower(), f"{_FAMILY.lower()}B"):
        cmap: Mapping[int, object] = getattr(document.fonts[key], "cmap", {})
        chars = {chr(codepoint) for codepoint in cmap}
        covered = chars if covered is None else covered & chars
    return frozenset(covered or ()) | {"\n"}


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _printable(text: str, supported: frozenset[str]) -> str:
    """NFC first, so that a letter typed as letter + combining accent finds its composed glyph; tabs and
    other control characters become spaces; whatever the font lacks (most emoji, CJK) becomes "?"."""
    composed = _CONTROL.sub(" ", unicodedata.normalize("NFC", text))
    return "".join(char if char in supported else "?" for char in composed)


class _Pen:
    """Draws blocks of text on a contract document. Every string goes through ``_printable``, and fpdf2's
    markdown stays off, so that text is only ever text."""

    def __init__(self, *, reference: str, issuer: str, language: str, created: datetime) -> None:
        self.document = _document_class()(reference=reference, issuer=issuer, language=language, created=created)
        self.supported = _supported_characters(self.document)

    def text(self, value: str) -> str:
        return _printable(value, self.supported)

    def keep_together(self, height: float) -> None:
        if self.document.will_page_break(height):
            self.document.add_page()

    def title(self, value: str) -> None:
        self.document.set_font(_FAMILY, "B", 16)
        self.document.multi_cell(w=0, h=8, text=self.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
        self.document.ln(3)

    def heading(self, value: str) -> None:
        self.keep_together(18)  # a heading is not left alone at the foot of a page
        self.document.ln(2)
        self.document.set_font(_FAMILY, "B", 11)
        self.document.multi_cell(w=0, h=6, text=self.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
        self.document.ln(1)

    def paragraph(self, value: str) -> None:
        # Left-aligned, not justified: justified lines come out of text extraction with doubled spaces.
        self.document.set_font(_FAMILY, "", 10)
        self.document.multi_cell(w=0, h=_LINE, text=self.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
        self.document.ln(2)

    def bullet(self, value: str) -> None:
        self.document.set_font(_FAMILY, "", 10)
        self.document.set_x(self.document.l_margin + 2)
        self.document.cell(w=5, h=_LINE, text="•", new_x="RIGHT", new_y="TOP")
        self.document.multi_cell(w=self.document.epw - 7, h=_LINE, text=self.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
        self.document.ln(1)

    def table(
        self, rows: Sequence[Sequence[str]], widths: Sequence[float], *, heading: bool = False, amount_columns: int = 1, size: float = 9.5
    ) -> None:
        """Rows of cells; the last ``amount_columns`` columns are right-aligned. A cell's text wraps within it."""
        self.document.set_font(_FAMILY, "", size)
        with self.document.table(
            col_widths=tuple(widths),
            text_align=tuple(["LEFT"] * (len(widths) - amount_columns) + ["RIGHT"] * amount_columns),
            first_row_as_headings=heading,
            borders_layout="HORIZONTAL_LINES",
            line_height=_LINE,
            padding=1,
        ) as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(self.text(value))
        self.document.ln(2)

    def table_height(self, rows: Sequence[Sequence[str]], widths: Sequence[float], *, size: float = 9.5) -> float:
        """The height ``table`` will take, from fpdf2's own line breaking (a dry run draws nothing)."""
        self.document.set_font(_FAMILY, "", size)
        scale = self.document.epw / sum(widths)
        rows_height = sum(
            max(self._lines(value, width * scale - 2) for value, width in zip(values, widths, strict=True)) * _LINE + 2 for values in rows
        )
        return rows_height + 2

    def _lines(self, value: str, width: float) -> int:
        lines = self.document.multi_cell(w=width, h=_LINE, text=self.text(value), dry_run=True, output="LINES")
        assert isinstance(lines, list)
        return len(lines)

    def output(self) -> bytes:
        return bytes(self.document.output())


def _draw_fees(pen: _Pen, terms: EngagementTerms, language: str) -> None:
    milestones, breakdown = pricing_rows(terms, language)
    labels = _LABELS[language]
    header = (labels["milestone_no"], labels["milestone"], labels["due"], labels["amount"])
    milestone_widths, breakdown_widths = (10, 90, 30, 40), (120, 50)
    # The pricing block is read as a whole: it starts a new page rather than split, unless it is longer
    # than a page anyway.
    height = pen.table_height(breakdown, breakdown_widths) + 12
    if milestones:
        height += pen.table_height([header, *milestones], milestone_widths)
    pen.keep_together(min(height, 200))
    if milestones:
        pen.table([header, *milestones], milestone_widths, heading=True)
    pen.table(breakdown, breakdown_widths)
    pen.paragraph(labels["vat"].format(currency=terms.currency))


def _draw_changes(pen: _Pen, previous: EngagementTerms, proposed: ProposedTerms, language: str) -> None:
    labels = _LABELS[language]
    prices = _rate_rows(previous, proposed, language)
    rows = [*_term_rows(previous, proposed, language), *prices]
    if not rows:
        raise ValueError("the change changes nothing: an addendum needs a term that changes")
    table = [(labels["term"], labels["until_now"], labels["as_amended"]), *rows]
    # Read as a whole, like the contract's pricing block.
    pen.keep_together(min(pen.table_height(table, _CHANGES_WIDTHS) + 12, 200))
    pen.table(table, _CHANGES_WIDTHS, heading=True, amount_columns=2)
    if prices:
        pen.paragraph(labels["vat"].format(currency=previous.currency))


def render_contract(view: ContractView) -> bytes:
    """The contract as a PDF. The same view always gives the same bytes."""
    language = language_of(view.language)
    return _render(view, DocumentKind.CONTRACT, template_values(view), {BlockKind.FEES: lambda pen: _draw_fees(pen, view.terms, language)})


def render_addendum(view: AddendumView) -> bytes:
    """The addendum as a PDF: the parties, the contract it amends, and a table of the terms that change, as
    they were and as amended. The same view always gives the same bytes."""
    language = language_of(view.language)
    return _render(
        view,
        DocumentKind.ADDENDUM,
        addendum_values(view),
        {BlockKind.CHANGES: lambda pen: _draw_changes(pen, view.previous, view.proposed, language)},
    )


def _render(
    view: ContractView | AddendumView, kind: DocumentKind, values: Mapping[str, str], directives: Mapping[BlockKind, Callable[[_Pen], None]]
) -> bytes:
    """The party's ``kind`` template filled with ``values`` and drawn, each directive by its function in
    ``directives``, then the signature lines."""
    language = language_of(view.language)
    blocks = fill_template(load_template(view.party, language, kind), values, kind)
    pen = _Pen(
        reference=view.reference,
        issuer=view.platform_name,
        language=language,
        created=datetime.combine(view.issued_on, time(0), tzinfo=UTC),
    )
    pen.document.set_title(pen.text(view.reference))
    pen.document.set_author(pen.text(view.platform_name))
    pen.document.add_page()
    section = 0
    for block in blocks:
        if block.kind is BlockKind.TITLE:
            pen.title(block.text)
        elif block.kind is BlockKind.HEADING:
            section += 1
            pen.heading(f"{section}. {block.text}")
        elif block.kind is BlockKind.BULLET:
            pen.bullet(block.text)
        elif block.kind is BlockKind.PARAGRAPH:
            pen.paragraph(block.text)
        else:
            directives[block.kind](pen)
    _draw_signature_fields(pen, view)
    return pen.output()


def _draw_signature_fields(pen: _Pen, view: ContractView | AddendumView) -> None:
    """One line per signer, counterparty first, each followed by its anchor in white: invisible on paper,
    found by DocuSign, which places that signer's signature field there (the built-in signature records
    its signatures on the evidence page instead)."""
    document = pen.document
    pen.keep_together(40)
    for recipient_id, party, signer in (
        (COUNTERPARTY_RECIPIENT, view.counterparty_name, view.counterparty_signer_name),
        (PLATFORM_RECIPIENT, view.platform_name, view.platform_signer_name),
    ):
        document.ln(4)
        document.set_font(_FAMILY, "B", 10)
        document.multi_cell(w=0, h=_LINE, text=pen.text(f"{party}: {signer}"), align="L", new_x="LMARGIN", new_y="NEXT")
        document.set_font(_FAMILY, "", 6)
        document.set_text_color(255, 255, 255)
        document.cell(w=0, h=_LINE * 2, text=SIGN_HERE_ANCHOR.format(recipient_id=recipient_id), new_x="LMARGIN", new_y="NEXT")
        document.set_text_color(0, 0, 0)


# --- signing evidence ---


def _truncated(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _evidence_page(
    evidence: Sequence[SignatureEvidence], *, language: str, reference: str, document_sha256: str, completed_at: datetime
) -> bytes:
    labels = _LABELS[language]
    pen = _Pen(reference=reference, issuer="Customersonly", language=language, created=as_utc(completed_at))
    pen.document.set_title(pen.text(f"{reference} · {labels['evidence_title']}"))
    pen.document.add_page()
    pen.title(labels["evidence_title"])
    pen.paragraph(labels["evidence_intro"].format(reference=_one_line(reference)))
    pen.table(
        [(labels["document_hash"], document_sha256), (labels["completed"], format_timestamp(completed_at))],
        _EVIDENCE_WIDTHS,
        amount_columns=0,
        size=8.5,
    )
    for number, item in enumerate(evidence, start=1):
        role = labels["counterparty"] if item.role is SignerRole.COUNTERPARTY else labels["platform"]
        user_agent = _truncated(_one_line(item.user_agent), _MAX_USER_AGENT) if item.user_agent else labels["unknown"]
        rows = [
            (labels["signer"], _one_line(item.signer_name)),
            (labels["email"], _one_line(item.signer_email)),
            (labels["role"], role),
            (labels["typed_name"], _one_line(item.typed_name)),
            (labels["signed_at"], format_timestamp(item.signed_at)),
            (labels["ip"], _one_line(item.ip) if item.ip else labels["unknown"]),
            (labels["user_agent"], user_agent),
            (labels["reviewed"], item.document_sha256),
            (labels["matches"], labels["yes"] if item.document_sha256 == document_sha256 else labels["no"]),
        ]
        # One signer's record is read as a whole: it starts a new page rather than split across two.
        pen.keep_together(pen.table_height(rows, _EVIDENCE_WIDTHS, size=8.5) + 12)
        pen.heading(labels["signature"].format(number=number, count=len(evidence)))
        pen.table(rows, _EVIDENCE_WIDTHS, amount_columns=0, size=8.5)
    return pen.output()


def append_evidence(
    pdf: bytes,
    evidence: Sequence[SignatureEvidence],
    *,
    language: str,
    reference: str,
    document_sha256: str,
    completed_at: datetime,
) -> bytes:
    """``pdf`` with the signing evidence page(s) after its pages.

    Written as an incremental update: the original bytes are the unchanged start of the result (so its
    pages, and the hash of what was signed, stay verifiable), and the new pages follow in an appended
    section. The same arguments always give the same bytes."""
    from pypdf import PdfReader, PdfWriter

    page = _evidence_page(
        evidence, language=language_of(language), reference=reference, document_sha256=document_sha256, completed_at=completed_at
    )
    writer = PdfWriter(BytesIO(pdf), incremental=True)
    for added in PdfReader(BytesIO(page)).pages:
        writer.add_page(added)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
