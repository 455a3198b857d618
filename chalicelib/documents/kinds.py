"""The file types the platform accepts, by MIME type. Apart from the inspection so that records of files
can name a type without loading the checks (the API's cold start)."""

from enum import StrEnum


class FileKind(StrEnum):
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    PNG = "image/png"
    JPEG = "image/jpeg"
