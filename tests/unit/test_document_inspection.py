"""Hostile and honest files: every hostile one refused with a reason, honest ones read."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.documents.inspection import FileKind, InspectionLimits, detect_kind, inspect_file
from demo.documents import pdf_with_text
from tests.documents import docx_with_text, encrypted_pdf

LIMITS = InspectionLimits(max_bytes=10 * 1024 * 1024)


def zip_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


DOCX_SKELETON = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}


def test_a_real_pdf_is_accepted_and_its_text_read() -> None:
    result = inspect_file(pdf_with_text("Senior consultant", "Python, Kubernetes and PostgreSQL"), FileKind.PDF, LIMITS)
    assert result.accepted and result.kind is FileKind.PDF
    assert "Kubernetes" in result.text and "Senior consultant" in result.text


def test_a_real_docx_is_accepted_and_its_paragraphs_and_tables_read() -> None:
    result = inspect_file(docx_with_text("Experience with Azure DevOps", "Led a team of five"), FileKind.DOCX, LIMITS)
    assert result.accepted and result.kind is FileKind.DOCX
    assert "Azure DevOps" in result.text and "Terraform" in result.text


@pytest.mark.parametrize(
    ("content", "declared", "reason"),
    [
        (b"", FileKind.PDF, "empty"),
        (b"MZ\x90\x00\x03" + b"\x00" * 200, FileKind.PDF, "program"),  # an executable renamed .pdf
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, FileKind.PDF, "program"),
        (b"<html><script>alert(1)</script></html>", FileKind.PDF, "not a file type we accept"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, FileKind.PDF, "is a PNG image"),  # wrong magic for the declared type
        (pdf_with_text("cv"), FileKind.DOCX, "is a PDF document"),
        (pdf_with_text("cv") + zip_of({"payload.exe": b"MZ" * 100}), FileKind.PDF, "also contains an archive"),  # polyglot
        (encrypted_pdf(), FileKind.PDF, "password-protected"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ngarbage" + bytes(range(256)) * 4, FileKind.PDF, "damaged"),
        (pdf_with_text("cv")[:120], FileKind.PDF, "damaged"),  # truncated
        (zip_of({**DOCX_SKELETON, "word/huge.xml": b"\x00" * (20 * 1024 * 1024)}), FileKind.DOCX, "zip bomb"),
        (zip_of({**DOCX_SKELETON, **{f"word/part{i}.xml": b"x" for i in range(1_200)}}), FileKind.DOCX, "too many parts"),
        (zip_of(DOCX_SKELETON), FileKind.DOCX, "damaged"),  # a DOCX shell without a real document
    ],
    ids=[
        "empty",
        "exe",
        "elf",
        "html",
        "png-as-pdf",
        "pdf-as-docx",
        "polyglot",
        "encrypted",
        "corrupt",
        "truncated",
        "zip-bomb",
        "too-many-entries",
        "hollow-docx",
    ],
)
def test_hostile_files_are_refused_with_a_reason(content: bytes, declared: FileKind, reason: str) -> None:
    result = inspect_file(content, declared, LIMITS)
    assert not result.accepted
    assert reason in (result.problem or ""), result.problem
    assert result.text == ""


def _pdf_with_stream_filter(filter_name: str) -> bytes:
    # The text stream claims a filter the reader cannot (or may not) decode.
    return pdf_with_text("filtered").replace(b"<< /Length ", f"<< /Filter /{filter_name} /Length ".encode(), 1)


def _docx_entries_tweaked(**attributes: int) -> bytes:
    archive = zipfile.ZipFile(io.BytesIO(docx_with_text("x")))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as rewritten:
        for info in archive.infolist():
            rewritten.writestr(info, archive.read(info.filename))
    raw = bytearray(out.getvalue())
    if "flag" in attributes:  # set the "encrypted" bit in the first local header and its central directory entry
        raw[6] |= attributes["flag"]
        central = raw.find(b"PK\x01\x02")
        raw[central + 8] |= attributes["flag"]
    if "method" in attributes:
        raw[8] = attributes["method"]
        central = raw.find(b"PK\x01\x02")
        raw[central + 10] = attributes["method"]
    return bytes(raw)


@pytest.mark.parametrize(
    ("content", "declared", "reason"),
    [
        (_pdf_with_stream_filter("FooDecode"), FileKind.PDF, "damaged"),
        (_pdf_with_stream_filter("JBIG2Decode"), FileKind.PDF, "damaged"),
        (_docx_entries_tweaked(flag=0x1), FileKind.DOCX, "encrypted or packed unusually"),
        (_docx_entries_tweaked(method=99), FileKind.DOCX, "encrypted or packed unusually"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + zip_of({"payload.js": b"alert(1)"}), FileKind.PNG, "also contains an archive"),
    ],
    ids=["unknown-filter", "jbig2", "encrypted-entry", "unknown-compression", "png-zip-polyglot"],
)
def test_parser_surprises_are_refusals_not_crashes(content: bytes, declared: FileKind, reason: str) -> None:
    result = inspect_file(content, declared, LIMITS)
    assert not result.accepted and reason in (result.problem or ""), result.problem


def test_oversized_files_are_refused_before_they_are_parsed() -> None:
    result = inspect_file(pdf_with_text("cv") + b"%" * 2048, FileKind.PDF, InspectionLimits(max_bytes=1024))
    assert not result.accepted and "larger than" in (result.problem or "")


def test_a_docx_unpacking_beyond_the_total_limit_is_refused() -> None:
    limits = InspectionLimits(max_bytes=LIMITS.max_bytes, max_uncompressed_bytes=1024, max_compression_ratio=10_000)
    content = zip_of({**DOCX_SKELETON, "word/big.xml": b"a" * 4096})
    assert "unpacks to more data" in (inspect_file(content, FileKind.DOCX, limits).problem or "")


def test_kind_detection_reads_bytes_not_names() -> None:
    assert detect_kind(pdf_with_text("x")) is FileKind.PDF
    assert detect_kind(docx_with_text("x")) is FileKind.DOCX
    assert detect_kind(zip_of({"a.txt": b"a"})) is None  # a zip is not a DOCX
    assert detect_kind(b"\xff\xd8\xff\xe0" + b"\x00" * 20) is FileKind.JPEG
    assert detect_kind(b"PK\x03\x04 broken") is None


def test_text_is_bounded() -> None:
    limits = InspectionLimits(max_bytes=LIMITS.max_bytes, max_text_chars=50)
    result = inspect_file(docx_with_text(*["word " * 40] * 20), FileKind.DOCX, limits)
    assert result.accepted and len(result.text) <= 50


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"%PDF-1.7\n", b"PK\x03\x04", b"\x89PNG\r\n\x1a\n"]),
    body=st.binary(max_size=4096),
    declared=st.sampled_from(list(FileKind)),
)
def test_no_bytes_whatsoever_make_inspection_raise(prefix: bytes, body: bytes, declared: FileKind) -> None:
    result = inspect_file(prefix + body, declared, LIMITS)
    assert result.accepted or result.problem


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=1, max_value=2000), flip=st.integers(min_value=0, max_value=255))
def test_damaged_real_documents_never_raise(cut: int, flip: int) -> None:
    for content, kind in ((pdf_with_text("Python and Kubernetes"), FileKind.PDF), (docx_with_text("Python"), FileKind.DOCX)):
        damaged = bytearray(content[: max(cut, 8)])
        damaged[len(damaged) // 2] ^= flip
        result = inspect_file(bytes(damaged), kind, LIMITS)
        assert result.accepted or result.problem
