"""Encrypted PDF and DOCX files made in the tests (no binary fixtures in the repository); plain PDFs come from
``demo.documents``, which the demo uploads too."""

from __future__ import annotations

import io

from demo.documents import pdf_with_text


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text("secret"))))
    writer.encrypt("a-password")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_with_text(*paragraphs: str) -> bytes:
    from docx import Document

    document = Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    table = document.add_table(rows=1, cols=1)
    table.rows[0].cells[0].text = "Table cell: Terraform"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
