"""Contract PDFs: what the templates say, what is printed, and that the bytes are reproducible."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from chalicelib.contracts.pdf import (
    CHANGES_DIRECTIVE,
    FEES_DIRECTIVE,
    LANGUAGES,
    AddendumView,
    Block,
    BlockKind,
    ContractView,
    DocumentKind,
    MissingPlaceholder,
    addendum_values,
    append_evidence,
    fill_template,
    format_money,
    format_percent,
    load_template,
    parse_template,
    placeholders,
    render_addendum,
    render_contract,
    sha256_hex,
    template_values,
)
from chalicelib.domain.contracts import ContractParty, EngagementTerms, Milestone, Pricing, RateChange, SignatureEvidence, SignerRole
from chalicelib.domain.engagement_changes import ProposedTerms

ROOT = Path(__file__).resolve().parents[2]

AGENCY = "Ærøskøbing Konsult AB"
CLIENT = "Kundbolaget i Malmö AB"
CONSULTANT = "Łukasz Żółć"
AGENCY_SIGNER = "Björn Ångström"
CLIENT_SIGNER = "Chloé Dupré"
PLATFORM_SIGNER = "Siri Staffsson"


def make_terms(pricing: Pricing) -> EngagementTerms:
    common = {
        "currency": "SEK",
        "start_date": date(2027, 3, 1),
        "end_date": date(2027, 8, 31),
        "share_of_full_time": 80,
        "scope": "Design and build the data platform.",
        "payment_terms_days": 30,
    }
    if pricing is Pricing.HOURLY:
        return EngagementTerms(pricing=pricing, commission_bps=1500, rate_minor=125_000, **common)  # type: ignore[arg-type]
    if pricing is Pricing.DAILY:
        return EngagementTerms(pricing=pricing, commission_bps=1250, rate_minor=950_000, **common)  # type: ignore[arg-type]
    milestones = (
        Milestone("m1", "Discovery report", 100_000, date(2027, 4, 1)),
        Milestone("m2", "Pipeline in production", 250_050, date(2027, 6, 15)),
        Milestone("m3", "Handover and training", 49_950, date(2027, 8, 31)),
    )
    return EngagementTerms(pricing=pricing, commission_bps=1500, milestones=milestones, **common)  # type: ignore[arg-type]


def make_view(party: ContractParty = ContractParty.AGENCY, language: str = "en", pricing: Pricing = Pricing.HOURLY) -> ContractView:
    counterparty = AGENCY if party is ContractParty.AGENCY else CLIENT
    return ContractView(
        party=party,
        language=language,
        reference="CO-c0ffee-v1",
        issued_on=date(2027, 2, 1),
        platform_name="Customersonly AB",
        platform_org_number="559123-4567",
        counterparty_name=counterparty,
        counterparty_org_number="556000-1111" if party is ContractParty.AGENCY else "556999-2222",
        counterparty_signer_name=AGENCY_SIGNER if party is ContractParty.AGENCY else CLIENT_SIGNER,
        platform_signer_name=PLATFORM_SIGNER,
        agency_name=AGENCY,
        client_name=CLIENT,
        consultant_name=CONSULTANT,
        assignment_title="Data engineer",
        terms=make_terms(pricing),
    )


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(BytesIO(pdf)).pages]


def flat(text: str) -> str:
    """Whitespace-insensitive: a fact may wrap onto the next line."""
    return " ".join(text.split())


# What each pricing must print, worked out by hand (client's price, commission, agency net).
EXPECTED_FEES = {
    (Pricing.HOURLY, "en"): ["Hourly rate", "Client's price per hour 1,250.00 SEK", "(15%) per hour 187.50 SEK", "per hour 1,062.50 SEK"],
    (Pricing.HOURLY, "sv"): ["Timpris", "Kundpris per timme 1 250,00 SEK", "(15 %) per timme 187,50 SEK", "per timme 1 062,50 SEK"],
    (Pricing.DAILY, "en"): ["Daily rate", "Client's price per day 9,500.00 SEK", "(12.5%) per day 1,187.50 SEK", "per day 8,312.50 SEK"],
    (Pricing.DAILY, "sv"): ["Dagpris", "Kundpris per dag 9 500,00 SEK", "(12,5 %) per dag 1 187,50 SEK", "per dag 8 312,50 SEK"],
    (Pricing.FIXED, "en"): [
        "1 Discovery report 2027-04-01 1,000.00 SEK",
        "2 Pipeline in production 2027-06-15 2,500.50 SEK",
        "3 Handover and training 2027-08-31 499.50 SEK",
        "Total fixed fee 4,000.00 SEK",
        "(15%) on the total 600.00 SEK",
        "(agency net) of the total 3,400.00 SEK",
    ],
    (Pricing.FIXED, "sv"): [
        "1 Discovery report 2027-04-01 1 000,00 SEK",
        "2 Pipeline in production 2027-06-15 2 500,50 SEK",
        "3 Handover and training 2027-08-31 499,50 SEK",
        "Fast pris totalt 4 000,00 SEK",
        "(15 %) på totalen 600,00 SEK",
        "(konsultbolagets netto) av totalen 3 400,00 SEK",
    ],
}
TITLES = {
    (ContractParty.AGENCY, "en"): "Subcontracting agreement",
    (ContractParty.AGENCY, "sv"): "Underkonsultavtal",
    (ContractParty.CLIENT, "en"): "Consulting services agreement",
    (ContractParty.CLIENT, "sv"): "Konsultavtal",
}


@pytest.mark.parametrize("pricing", list(Pricing))
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("party", list(ContractParty))
def test_the_contract_prints_the_parties_the_terms_and_the_full_fee_breakdown(
    party: ContractParty, language: str, pricing: Pricing
) -> None:
    view = make_view(party, language, pricing)
    pages = page_texts(render_contract(view))
    text = flat("\n".join(pages))

    assert TITLES[party, language] in text
    for fact in (AGENCY, CLIENT, CONSULTANT, PLATFORM_SIGNER, view.counterparty_signer_name, "Customersonly AB", "559123-4567"):
        assert fact in text, fact
    assert view.counterparty_org_number in text
    assert "2027-03-01" in text and "2027-08-31" in text
    assert ("80 %" if language == "sv" else "80%") in text
    assert ("30 dagar" if language == "sv" else "30 days") in text
    for fact in EXPECTED_FEES[pricing, language]:
        assert fact in text, fact
    # The commission is stated in the text too, not only in the table: it is disclosed to every party.
    percent = format_percent(view.terms.commission_bps, language)
    assert ("provision om " if language == "sv" else "commission of ") + percent in text
    label = "Sida {} av {}" if language == "sv" else "Page {} of {}"
    for number, page in enumerate(pages, start=1):
        assert page.count("CO-c0ffee-v1") >= 2, "the reference is in the header and the footer"
        assert label.format(number, len(pages)) in page


def test_the_other_pricings_details_are_not_printed() -> None:
    hourly = flat("\n".join(page_texts(render_contract(make_view(pricing=Pricing.HOURLY)))))
    fixed = flat("\n".join(page_texts(render_contract(make_view(pricing=Pricing.FIXED)))))
    assert "Milestone" not in hourly and "per hour" in hourly
    assert "per hour" not in fixed and "Milestone" in fixed


def test_unicode_names_round_trip_and_are_composed() -> None:
    view = replace(
        make_view(ContractParty.CLIENT, "sv"),
        counterparty_name="Ærøskøbing Økologi ApS",
        consultant_name="Zoe\u0308 Ñúñez-Łódź",  # "ë" typed as e + combining diaeresis
        platform_signer_name="Dmitrij Šostakovič",
    )
    text = flat("\n".join(page_texts(render_contract(view))))
    assert "Ærøskøbing Økologi ApS" in text
    assert "Zoë Ñúñez-Łódź" in text
    assert "Dmitrij Šostakovič" in text


def test_characters_the_font_lacks_print_as_a_question_mark() -> None:
    view = replace(make_view(), consultant_name="Wei 中文 🦀 Zhang")
    text = flat("\n".join(page_texts(render_contract(view))))
    assert "Wei ?? ? Zhang" in text
    assert "中" not in text and "🦀" not in text


def test_values_print_literally_and_cannot_make_sections() -> None:
    hostile = "**Bold** ## Not a heading\n\n# Not a title\n- not a bullet\n{{fees}}\n$client_name {nb}"
    plain = make_view()
    view = replace(plain, assignment_title=hostile, terms=replace(plain.terms, scope=hostile))
    text = flat("\n".join(page_texts(render_contract(view))))
    plain_text = flat("\n".join(page_texts(render_contract(plain))))

    assert "**Bold** ## Not a heading # Not a title - not a bullet {{fees}} $client_name {nb}" in text
    # The same sections, and the pricing block once.
    for number in range(1, 16):
        assert (f" {number}. " in text) == (f" {number}. " in plain_text), number
    assert text.count("Client's price per hour") == 1


@pytest.mark.parametrize("kind", list(DocumentKind))
@given(value=st.text(max_size=80))
@settings(max_examples=200, deadline=None)
def test_no_value_changes_a_templates_structure(kind: DocumentKind, value: str) -> None:
    source = load_template(ContractParty.AGENCY, "en", kind)
    values = dict.fromkeys(placeholders(source), "x")
    reference = [block.kind for block in fill_template(source, values, kind)]
    hostile = dict.fromkeys(placeholders(source), value)
    blocks = fill_template(source, hostile, kind)
    assert [block.kind for block in blocks] == reference
    for block in blocks:
        if block.kind is not BlockKind.PARAGRAPH:
            assert "\n" not in block.text


def test_a_placeholder_without_a_value_raises() -> None:
    view = make_view()
    values = template_values(view)
    del values["consultant_name"]
    with pytest.raises(MissingPlaceholder, match="consultant_name"):
        fill_template(load_template(ContractParty.AGENCY, "sv"), values)
    with pytest.raises(MissingPlaceholder):
        fill_template("# Title\n\nHello $nobody.", {})


def test_an_unknown_directive_is_an_error_not_text() -> None:
    with pytest.raises(ValueError, match="unknown directive"):
        parse_template("# Title\n\n{{fee}}\n")
    # Each kind of document draws only its own: the other's would have nothing to draw it with.
    with pytest.raises(ValueError, match="unknown directive"):
        parse_template(f"# Title\n\n{CHANGES_DIRECTIVE}\n")
    with pytest.raises(ValueError, match="unknown directive"):
        parse_template(f"# Title\n\n{FEES_DIRECTIVE}\n", DocumentKind.ADDENDUM)
    assert parse_template(f"# Title\n\n{CHANGES_DIRECTIVE}\n", DocumentKind.ADDENDUM)[-1] == Block(BlockKind.CHANGES)


def test_the_markup() -> None:
    blocks = parse_template("# Title\n\n## Heading\nFirst line\nsecond line\n\n- one\n  continued\n- two\n\n{{fees}}\nAfter\n")
    assert [(b.kind, b.text) for b in blocks] == [
        (BlockKind.TITLE, "Title"),
        (BlockKind.HEADING, "Heading"),
        (BlockKind.PARAGRAPH, "First line second line"),
        (BlockKind.BULLET, "one continued"),
        (BlockKind.BULLET, "two"),
        (BlockKind.FEES, ""),
        (BlockKind.PARAGRAPH, "After"),
    ]


@pytest.mark.parametrize(
    ("kind", "directive", "block_kind"),
    [(DocumentKind.CONTRACT, FEES_DIRECTIVE, BlockKind.FEES), (DocumentKind.ADDENDUM, CHANGES_DIRECTIVE, BlockKind.CHANGES)],
)
@pytest.mark.parametrize("party", list(ContractParty))
def test_swedish_and_english_templates_match(party: ContractParty, kind: DocumentKind, directive: str, block_kind: BlockKind) -> None:
    sv, en = load_template(party, "sv", kind), load_template(party, "en", kind)
    values = template_values(make_view(party)) if kind is DocumentKind.CONTRACT else addendum_values(make_addendum_view(party))
    assert placeholders(sv) == placeholders(en)
    assert placeholders(sv) <= set(values)
    kinds_sv = [block.kind for block in parse_template(sv, kind)]
    kinds_en = [block.kind for block in parse_template(en, kind)]
    assert kinds_sv.count(BlockKind.HEADING) == kinds_en.count(BlockKind.HEADING)
    assert kinds_sv.count(block_kind) == kinds_en.count(block_kind) == 1
    assert kinds_sv[0] is kinds_en[0] is BlockKind.TITLE
    assert sv.count(directive) == 1


def test_an_unknown_language_falls_back_to_english() -> None:
    text = flat("\n".join(page_texts(render_contract(make_view(language="de")))))
    assert "Subcontracting agreement" in text


def test_the_same_view_gives_the_same_bytes() -> None:
    view = make_view(ContractParty.CLIENT, "sv", Pricing.FIXED)
    assert render_contract(view) == render_contract(view)
    # Dated from the view, not the clock (two renders in the same second would hide that).
    assert PdfReader(BytesIO(render_contract(view))).metadata.creation_date == datetime(2027, 2, 1, tzinfo=UTC)  # type: ignore[union-attr]
    assert render_contract(view) != render_contract(replace(view, issued_on=date(2027, 2, 2)))


def test_the_same_bytes_in_another_process() -> None:
    """Across processes with different hash seeds: nothing may depend on set or dict iteration order."""
    script = (
        "import hashlib, sys; sys.path.insert(0, 'tests/unit'); sys.path.insert(0, '.');"
        "from test_contract_pdf import make_view; from chalicelib.contracts.pdf import render_contract;"
        "from chalicelib.domain.contracts import ContractParty, Pricing;"
        "print(hashlib.sha256(render_contract(make_view(ContractParty.AGENCY, 'sv', Pricing.FIXED))).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert digests == {hashlib.sha256(render_contract(make_view(ContractParty.AGENCY, "sv", Pricing.FIXED))).hexdigest()}


def make_evidence(number: int, document_sha256: str) -> SignatureEvidence:
    return SignatureEvidence(
        signer_name=f"Signer Żółć {number}",
        signer_email=f"signer{number}@example.se",
        role=SignerRole.COUNTERPARTY if number == 1 else SignerRole.PLATFORM,
        typed_name=f"Typed Ærø {number}",
        signed_at=datetime(2027, 2, 3, 9, number, 30, tzinfo=UTC),
        ip=f"192.0.2.{number}",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) " * 20,
        document_sha256=document_sha256,
    )


COMPLETED = datetime(2027, 2, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_evidence_page_follows_the_unchanged_original(language: str) -> None:
    original = render_contract(make_view(language=language))
    digest = sha256_hex(original)
    evidence = [make_evidence(1, digest), make_evidence(2, digest)]

    signed = append_evidence(
        original, evidence, language=language, reference="CO-c0ffee-v1", document_sha256=digest, completed_at=COMPLETED
    )

    assert signed.startswith(original), "an incremental update: the signed bytes are the start of the result"
    before, after = page_texts(original), page_texts(signed)
    assert after[: len(before)] == before
    assert len(after) == len(before) + 1
    page = after[-1]
    assert ("Underskrifter och bevis" if language == "sv" else "Signing evidence") in page
    assert "CO-c0ffee-v1" in page
    assert page.count(digest) == 3  # the document's, and the one each signer reviewed
    assert "2027-02-03T10:00:00Z" in page
    for number in (1, 2):
        assert f"Typed Ærø {number}" in page
        assert f"Signer Żółć {number}" in page
        assert f"signer{number}@example.se" in page
        assert f"192.0.2.{number}" in page
        assert f"2027-02-03T09:0{number}:30Z" in page
    assert "…" in page, "the user agent is truncated"


def test_the_evidence_is_deterministic_and_shows_a_hash_mismatch() -> None:
    original = render_contract(make_view())
    digest = sha256_hex(original)
    evidence = [make_evidence(1, digest), make_evidence(2, "0" * 64)]
    args = {"language": "en", "reference": "CO-c0ffee-v1", "document_sha256": digest, "completed_at": COMPLETED}
    first = append_evidence(original, evidence, **args)  # type: ignore[arg-type]
    assert first == append_evidence(original, evidence, **args)  # type: ignore[arg-type]
    page = flat(page_texts(first)[-1])
    assert "Same as the signed document Yes" in page
    assert "Same as the signed document No" in page


def test_many_signers_continue_on_more_evidence_pages() -> None:
    original = render_contract(make_view())
    digest = sha256_hex(original)
    evidence = [make_evidence(number, digest) for number in range(1, 8)]
    signed = append_evidence(original, evidence, language="en", reference="CO-c0ffee-v1", document_sha256=digest, completed_at=COMPLETED)
    before, after = page_texts(original), page_texts(signed)
    added = after[len(before) :]
    assert len(added) > 1
    assert after[: len(before)] == before
    text = "\n".join(added)
    for number in range(1, 8):
        assert f"Typed Ærø {number}" in text and f"192.0.2.{number}" in text


def test_formats() -> None:
    assert format_money(123_450, "SEK", "sv") == "1 234,50 SEK"
    assert format_money(123_450, "SEK", "en") == "1,234.50 SEK"
    assert format_money(5, "EUR", "en") == "0.05 EUR"
    assert format_money(123_456_789_00, "NOK", "sv") == "123 456 789,00 NOK"
    assert format_percent(1500, "sv") == "15 %"
    assert format_percent(1500, "en") == "15%"
    assert format_percent(1250, "sv") == "12,5 %"
    assert format_percent(1250, "en") == "12.5%"
    assert format_percent(1234, "en") == "12.34%"
    assert format_percent(10_000, "en") == "100%"
    assert format_percent(0, "sv") == "0 %"


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(LANGUAGES))
def test_a_formatted_amount_reads_back_as_the_amount(amount: int, language: str) -> None:
    printed = format_money(amount, "SEK", language)
    assert printed.endswith(" SEK")
    digits = printed.removesuffix(" SEK").replace(" ", "").replace(",", "").replace(".", "")
    assert int(digits) == amount


def test_importing_the_module_does_not_import_fpdf_or_pypdf() -> None:
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import chalicelib.contracts.pdf, sys; assert 'fpdf' not in sys.modules and 'pypdf' not in sys.modules",
        ],
        cwd=ROOT,
        check=True,
    )


@pytest.mark.parametrize("party", list(ContractParty))
def test_each_signer_has_an_anchor_where_docusign_places_the_signature_field(party: ContractParty) -> None:
    from chalicelib.domain.contracts import SIGN_HERE_ANCHOR

    view = make_view(party)
    last_page = page_texts(render_contract(view))[-1]
    counterparty, platform = SIGN_HERE_ANCHOR.format(recipient_id="1"), SIGN_HERE_ANCHOR.format(recipient_id="2")
    # Each after its signer's line, the counterparty first.
    assert last_page.index(view.counterparty_signer_name) < last_page.index(counterparty) < last_page.index(platform)
    assert last_page.index(view.platform_signer_name) < last_page.index(platform)


# --- addenda ---

PREVIOUS = make_terms(Pricing.HOURLY)  # 2027-03-01 to 2027-08-31, 80 %, 1 250,00 SEK per hour, 15 %
EXTENSION = ProposedTerms(end_date=date(2027, 12, 31))
EARLY_END = ProposedTerms(end_date=date(2027, 6, 30))
# Longer, at a new rate whose commission rounds (19 999,95 → 20 000 öre) and a new extent, from a day.
EXTENSION_AT_A_NEW_RATE = ProposedTerms(
    end_date=date(2027, 12, 31), share_of_full_time=60, rate_minor=133_333, effective_from=date(2027, 9, 1)
)
ADDENDUM_TITLES = {
    (ContractParty.AGENCY, "en"): "Addendum to the subcontracting agreement",
    (ContractParty.AGENCY, "sv"): "Tilläggsavtal till underkonsultavtal",
    (ContractParty.CLIENT, "en"): "Addendum to the consulting services agreement",
    (ContractParty.CLIENT, "sv"): "Tilläggsavtal till konsultavtal",
}
# The rate rows of EXTENSION_AT_A_NEW_RATE, worked out by hand: (label, until now, as amended).
NEW_RATE_ROWS = {
    "en": [
        "Client's price per hour, from 2027-09-01 1,250.00 SEK 1,333.33 SEK",
        "Customersonly's commission (15%) per hour, from 2027-09-01 187.50 SEK 200.00 SEK",
        "Supplier's fee (agency net) per hour, from 2027-09-01 1,062.50 SEK 1,133.33 SEK",
    ],
    "sv": [
        "Kundpris per timme, från och med 2027-09-01 1 250,00 SEK 1 333,33 SEK",
        "Customersonlys provision (15 %) per timme, från och med 2027-09-01 187,50 SEK 200,00 SEK",
        "Leverantörens arvode (konsultbolagets netto) per timme, från och med 2027-09-01 1 062,50 SEK 1 133,33 SEK",
    ],
}


def make_addendum_view(
    party: ContractParty = ContractParty.AGENCY, language: str = "en", proposed: ProposedTerms = EXTENSION_AT_A_NEW_RATE
) -> AddendumView:
    contract = make_view(party, language)
    return AddendumView(
        party=party,
        language=language,
        reference="AD-d00d-v1",
        contract_reference=contract.reference,
        issued_on=date(2027, 7, 1),
        platform_name=contract.platform_name,
        platform_org_number=contract.platform_org_number,
        counterparty_name=contract.counterparty_name,
        counterparty_org_number=contract.counterparty_org_number,
        counterparty_signer_name=contract.counterparty_signer_name,
        platform_signer_name=contract.platform_signer_name,
        agency_name=contract.agency_name,
        client_name=contract.client_name,
        consultant_name=contract.consultant_name,
        assignment_title=contract.assignment_title,
        previous=PREVIOUS,
        proposed=proposed,
    )


def addendum_text(view: AddendumView) -> str:
    return flat("\n".join(page_texts(render_addendum(view))))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("party", list(ContractParty))
def test_the_addendum_names_the_contract_and_prints_each_change_until_now_and_as_amended(party: ContractParty, language: str) -> None:
    view = make_addendum_view(party, language)
    pages = page_texts(render_addendum(view))
    text = flat("\n".join(pages))

    assert ADDENDUM_TITLES[party, language] in text
    assert "CO-c0ffee-v1" in text
    for fact in (AGENCY, CLIENT, CONSULTANT, PLATFORM_SIGNER, view.counterparty_signer_name, view.counterparty_org_number, "559123-4567"):
        assert fact in text, fact
    if language == "en":
        assert "Term Until now As amended" in text
        assert "End date 2027-08-31 2027-12-31" in text
        assert "Extent (share of full time), from 2027-09-01 80% 60%" in text
        assert "Customersonly's commission remains 15%" in text
    else:
        assert "Villkor Hittills Efter ändringen" in text
        assert "Slutdatum 2027-08-31 2027-12-31" in text
        assert "Omfattning (andel av heltid), från och med 2027-09-01 80 % 60 %" in text
        assert "Customersonlys provision är oförändrad, 15 %" in text
    for row in NEW_RATE_ROWS[language]:
        assert row in text, row
    label = "Sida {} av {}" if language == "sv" else "Page {} of {}"
    for number, page in enumerate(pages, start=1):
        assert page.count("AD-d00d-v1") >= 2, "the addendum's own reference is in the header and the footer"
        assert label.format(number, len(pages)) in page
    # Each signer's anchor after their signature line, the counterparty first, as on the contracts.
    last = pages[-1]
    counterparty_line, platform_line = f"{view.counterparty_name}: {view.counterparty_signer_name}", f"Customersonly AB: {PLATFORM_SIGNER}"
    assert last.index(counterparty_line) < last.index("/sig1/") < last.index(platform_line) < last.index("/sig2/")


@pytest.mark.parametrize("language", LANGUAGES)
def test_only_the_terms_that_change_are_in_the_table(language: str) -> None:
    end_only = addendum_text(make_addendum_view(language=language, proposed=EXTENSION))
    labels = ("Slutdatum", "Omfattning", "Kundpris", "SEK") if language == "sv" else ("End date", "Extent", "Client's price", "SEK")
    end_date, extent, price, currency = labels
    assert f"{end_date} 2027-08-31 2027-12-31" in end_only
    assert extent not in end_only
    assert price not in end_only and currency not in end_only, "no rate, commission or net without a new rate"

    # The same end date, a new extent: no end date row, and still no money.
    new_extent = ProposedTerms(end_date=PREVIOUS.end_date, share_of_full_time=50, effective_from=date(2027, 5, 1))
    extent_only = addendum_text(make_addendum_view(language=language, proposed=new_extent))
    assert end_date not in extent_only
    assert extent in extent_only and "2027-05-01" in extent_only
    assert price not in extent_only and currency not in extent_only

    # A "new" rate equal to the one in force on its day is no change either.
    same_rate = ProposedTerms(end_date=date(2027, 12, 31), rate_minor=PREVIOUS.rate_minor, effective_from=date(2027, 9, 1))
    assert price not in addendum_text(make_addendum_view(language=language, proposed=same_rate))


def test_a_new_rate_is_set_against_the_rate_in_force_on_its_day() -> None:
    """Not the contract's first rate: an earlier addendum may have changed it."""
    changed_before = replace(PREVIOUS, rate_changes=(RateChange(date(2027, 6, 1), 130_000),))
    view = replace(make_addendum_view(), previous=changed_before)
    text = addendum_text(view)
    assert "Client's price per hour, from 2027-09-01 1,300.00 SEK 1,333.33 SEK" in text
    assert "(15%) per hour, from 2027-09-01 195.00 SEK 200.00 SEK" in text
    assert "1,250.00" not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_early_end_and_an_extension_read_differently(language: str) -> None:
    early = addendum_text(make_addendum_view(language=language, proposed=EARLY_END))
    later = addendum_text(make_addendum_view(language=language, proposed=EXTENSION))
    if language == "en":
        assert "end the Assignment early: it ends on 2027-06-30 instead of 2027-08-31" in early
        assert "by mutual agreement; it is not a termination" in early
        assert "extend" not in early
        assert "extend the Assignment: it ends on 2027-12-31 instead of 2027-08-31" in later
        assert "early" not in later
    else:
        assert "avsluta Uppdraget i förtid: det slutar den 2027-06-30 i stället för den 2027-08-31" in early
        assert "genom överenskommelse; det är ingen uppsägning" in early
        assert "förlänga" not in early
        assert "förlänga Uppdraget: det slutar den 2027-12-31 i stället för den 2027-08-31" in later
        assert "i förtid" not in later


def test_an_addendum_that_changes_nothing_is_not_drawn() -> None:
    with pytest.raises(ValueError, match="changes nothing"):
        render_addendum(make_addendum_view(proposed=ProposedTerms(end_date=PREVIOUS.end_date)))


def test_a_hostile_name_prints_literally_in_an_addendum() -> None:
    hostile = "Eve ## Not a heading\n\n# Not a title\n- not a bullet\n{{changes}}\n$client_name"
    plain = make_addendum_view()
    text = addendum_text(replace(plain, consultant_name=hostile, assignment_title=hostile))
    plain_text = addendum_text(plain)

    assert "Eve ## Not a heading # Not a title - not a bullet {{changes}} $client_name" in text
    for number in range(1, 10):
        assert (f" {number}. " in text) == (f" {number}. " in plain_text), number
    assert text.count("Until now") == plain_text.count("Until now")
    assert text.count("1,333.33 SEK") == 1, "the table once"


def test_the_same_addendum_gives_the_same_bytes() -> None:
    view = make_addendum_view(ContractParty.CLIENT, "sv")
    pdf = render_addendum(view)
    assert pdf == render_addendum(view)
    assert PdfReader(BytesIO(pdf)).metadata.creation_date == datetime(2027, 7, 1, tzinfo=UTC)  # type: ignore[union-attr]
    assert pdf != render_addendum(replace(view, issued_on=date(2027, 7, 2)))
