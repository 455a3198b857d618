"""Inspecting uploaded files before anything is attached: real type, size, hostile structure, text.

A browser declares a content type; nothing here believes it. The kind is taken from the magic bytes
and must match what was declared; DOCX archives are measured (entries, uncompressed size, ratio)
before any XML is parsed, so a zip bomb is refused without being inflated; PDFs that are encrypted,
damaged or also readable as a ZIP archive (a polyglot) are refused. Every refusal carries a reason a
person can act on. pypdf and python-docx are imported on first use, not at cold start.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.documents.kinds import FileKind

_LABELS = {FileKind.PDF: "PDF document", FileKind.DOCX: "Word document (DOCX)", FileKind.PNG: "PNG image", FileKind.JPEG: "JPEG image"}
_PROGRAM_MAGIC = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"#!")


@dataclass(frozen=True)
class InspectionLimits:
    max_bytes: int
    max_archive_entries: int = 1_000
    max_uncompressed_bytes: int = 64 * 1024 * 1024
    max_compression_ratio: int = 100  # text-heavy DOCX parts compress ~10x; bombs compress 1000x
    max_pages: int = 200  # text is read from at most this many pages
    max_text_chars: int = 1_000_000


@dataclass(frozen=True)
class Inspection:
    kind: FileKind | None
    size: int
    problem: str | None = None  # None: accepted
    text: str = ""

    @property
    def accepted(self) -> bool:
        return self.problem is None


def detect_kind(content: bytes) -> FileKind | None:
    """The kind the bytes themselves announce (not the name, not the declared type)."""
    if content.startswith(b"%PDF-"):
        return FileKind.PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind.PNG
    if content.startswith(b"\xff\xd8\xff"):
        return FileKind.JPEG
    if content.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(content)).namelist())
        except zipfile.BadZipFile:
            return None
        if {"[Content_Types].xml", "word/document.xml"} <= names:
            return FileKind.DOCX
    return None


def inspect_file(content: bytes, declared: FileKind, limits: InspectionLimits) -> Inspection:
    size = len(content)
    if size == 0:
        return Inspection(None, 0, "The file is empty.")
    if size > limits.max_bytes:
        return Inspection(None, size, f"The file is larger than {limits.max_bytes // (1024 * 1024) or 1} MB.")
    kind = detect_kind(content)
    if kind is not declared:
        if content.startswith(_PROGRAM_MAGIC):
            return Inspection(None, size, f"The file is a program, not a {_LABELS[declared]}.")
        found = f"a {_LABELS[kind]}" if kind else "not a file type we accept"
        return Inspection(kind, size, f"The file was sent as a {_LABELS[declared]} but is {found}.")
    if kind is not FileKind.DOCX and zipfile.is_zipfile(io.BytesIO(content)):
        # Valid as both this kind and a ZIP archive: a classic way to smuggle a payload past a type check.
        return Inspection(kind, size, f"The {_LABELS[kind]} also contains an archive; save it again as a plain file.")
    if kind is FileKind.PDF:
        return _inspect_pdf(content, limits)
    if kind is FileKind.DOCX:
        return _inspect_docx(content, limits)
    return Inspection(kind, size)


def _inspect_pdf(content: bytes, limits: InspectionLimits) -> Inspection:
    size = len(content)
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            return Inspection(FileKind.PDF, size, "The PDF is password-protected; upload it without a password.")
        text = _bounded_join((page.extract_text() or "" for page in reader.pages[: limits.max_pages]), limits.max_text_chars)
    except Exception:  # a parser fed hostile bytes
        # pypdf raises a zoo of errors on hostile input (NotImplementedError for unknown filters, its own
        # DependencyError, zlib and struct errors ...). Every one of them means: this PDF cannot be read.
        return Inspection(FileKind.PDF, size, "The PDF is damaged and cannot be read; export it again and upload the new file.")
    return Inspection(FileKind.PDF, size, text=text)


def _inspect_docx(content: bytes, limits: InspectionLimits) -> Inspection:
    size = len(content)
    archive = zipfile.ZipFile(io.BytesIO(content))
    entries = archive.infolist()
    if len(entries) > limits.max_archive_entries:
        return Inspection(FileKind.DOCX, size, "The document holds too many parts to be a normal Word file.")
    if sum(e.file_size for e in entries) > limits.max_uncompressed_bytes:
        return Inspection(FileKind.DOCX, size, "The document unpacks to more data than a Word file may hold.")
    if any(e.file_size > limits.max_compression_ratio * max(e.compress_size, 1) for e in entries):
        return Inspection(FileKind.DOCX, size, "The document is compressed suspiciously well (a zip bomb?) and was not opened.")
    if any(e.flag_bits & 0x1 or e.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for e in entries):
        return Inspection(FileKind.DOCX, size, "The Word document is encrypted or packed unusually; save it again as a plain .docx.")
    from docx import Document

    try:
        document = Document(io.BytesIO(content))
        cells = (cell.text for table in document.tables for row in table.rows for cell in row.cells)
        text = _bounded_join((*(p.text for p in document.paragraphs), *cells), limits.max_text_chars)
    except Exception:  # a parser fed hostile bytes
        # python-docx and lxml raise many kinds of errors on broken parts; each means: unreadable.
        return Inspection(FileKind.DOCX, size, "The Word document is damaged and cannot be read; save it again and upload it.")
    return Inspection(FileKind.DOCX, size, text=text)


def _bounded_join(parts: Iterable[str], limit: int) -> str:
    """Joins text parts but stops reading once ``limit`` characters are collected."""
    collected: list[str] = []
    total = 0
    for part in parts:
        if total >= limit:
            break
        collected.append(part)
        total += len(part) + 1
    return "\n".join(collected)[:limit]
