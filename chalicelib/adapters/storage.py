"""S3 document storage: presigned POST for browser uploads, presigned GET for downloads, bounded reads.

The bucket is versioned; documents refer to the exact version that was checked."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.aws_errors import aws_error_code
from chalicelib.domain.ids import utcnow
from chalicelib.logging import logger
from chalicelib.services.ports import ArchiveMember, FetchedObject, PresignedPost, StoredObject

_MISSING = ("404", "NoSuchKey", "NoSuchVersion", "NotFound")
_PART_BYTES = 8 * 1024 * 1024  # S3 wants every part but the last to hold at least 5 MiB
_CHUNK_BYTES = 1024 * 1024


class S3DocumentStorage:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def presigned_post(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> PresignedPost:
        # The policy binds the exact key and content type and limits the size; S3 enforces it (moto does
        # not enforce content-length-range, so the upload handler re-checks the real size).
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes], {"key": key}],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]), expires_at=utcnow() + timedelta(seconds=expires_in))

    def presigned_get(self, key: str, version_id: str | None, *, expires_in: int) -> str:
        params = {"Bucket": self._bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        url: str = self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url

    def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime | None = None) -> StoredObject:
        """A new version of ``key``. With ``retain_until``, locked in compliance mode: no one, not even the
        account's root user, can delete or overwrite that version before then (the contracts bucket is
        created with object lock enabled)."""
        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": content,
            "ContentType": content_type,
            # The SDK sends the SHA-256 and S3 checks the bytes it stored against it: a corrupted upload is
            # refused, not kept. (A put with object lock needs a checksum header anyway.)
            "ChecksumAlgorithm": "SHA256",
            "ServerSideEncryption": "AES256",
        }
        if retain_until is not None:
            params |= {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        response = self._s3.put_object(**params)
        return StoredObject(version_id=response.get("VersionId"))

    def fetch(self, key: str, version_id: str | None, max_bytes: int) -> FetchedObject | None:
        from botocore.exceptions import ClientError

        # One ranged GET: never more than max_bytes + 1 bytes in memory, and size, content and version
        # all come from the same read.
        params = {"Bucket": self._bucket, "Key": key, "Range": f"bytes=0-{max_bytes}", **({"VersionId": version_id} if version_id else {})}
        try:
            response = self._s3.get_object(**params)
        except ClientError as exc:
            if aws_error_code(exc) in _MISSING:
                return None
            if aws_error_code(exc) == "InvalidRange":  # S3's answer for a range over an empty object
                return FetchedObject(version_id=version_id, size=0, content=b"")
            raise
        content: bytes = response["Body"].read()
        content_range = response.get("ContentRange")  # "bytes 0-N/TOTAL"
        size = int(content_range.rsplit("/", 1)[1]) if content_range else len(content)
        found_version = response.get("VersionId")
        return FetchedObject(version_id=found_version if found_version not in (None, "null") else version_id, size=size, content=content)

    def write_archive(self, key: str, members: Iterable[ArchiveMember]) -> None:
        # A multipart upload fed by zipfile as it writes: memory holds one part and one chunk, whatever
        # the archive's size. zipfile writes to an unseekable stream with data descriptors.
        upload_id = self._s3.create_multipart_upload(Bucket=self._bucket, Key=key, ContentType="application/zip")["UploadId"]
        stream = _MultipartStream(self._s3, self._bucket, key, upload_id)
        try:
            with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for member in members:
                    chunks = self._chunks(member)
                    if chunks is None:
                        logger.warning("archive member gone; left out", extra={"member": member.name})
                        continue  # deleted since the archive was asked for
                    with archive.open(member.name, "w", force_zip64=True) as entry:
                        for chunk in chunks:
                            entry.write(chunk)
            stream.complete()
        except BaseException:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
            raise

    def _chunks(self, member: ArchiveMember) -> Iterable[bytes] | None:
        """The member's bytes, streamed; None when its stored object no longer exists."""
        from botocore.exceptions import ClientError

        if member.content is not None:
            return [member.content]
        version = {"VersionId": member.source_version} if member.source_version else {}
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=member.source_key, **version)["Body"]
        except ClientError as exc:
            if aws_error_code(exc) in _MISSING:
                return None
            raise
        chunks: Iterator[bytes] = body.iter_chunks(_CHUNK_BYTES)
        return chunks

    def delete(self, key: str, version_id: str | None = None) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key, **({"VersionId": version_id} if version_id else {}))

    def erase(self, prefix: str) -> int:
        # Every version and delete marker: deleting only the current version of a versioned object
        # would leave its content behind a delete marker.
        if not prefix:
            raise ValueError("refusing to erase the whole bucket")
        erased = 0
        for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=self._bucket, Prefix=prefix):
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            if not objects:
                continue
            # A page holds at most 1000 entries, DeleteObjects' own limit.
            response = self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True})
            if response.get("Errors"):
                first = response["Errors"][0]
                raise RuntimeError(f"S3 kept {len(response['Errors'])} object versions, e.g. {first.get('Code')}: {first.get('Message')}")
            erased += len(objects)
        # Parts of an upload never completed (an archive build cut short) hold content too.
        for page in self._s3.get_paginator("list_multipart_uploads").paginate(Bucket=self._bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                self._s3.abort_multipart_upload(Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                erased += 1
        return erased


class _MultipartStream(io.RawIOBase):
    """A write-only, unseekable file whose bytes become the parts of an S3 multipart upload."""

    def __init__(self, s3: Any, bucket: str, key: str, upload_id: str) -> None:
        self._s3, self._bucket, self._key, self._upload_id = s3, bucket, key, upload_id
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        self._buffer += data
        self._written += len(data)
        while len(self._buffer) >= _PART_BYTES:
            self._upload(bytes(self._buffer[:_PART_BYTES]))
            del self._buffer[:_PART_BYTES]
        return len(data)

    def complete(self) -> None:
        self._upload(bytes(self._buffer))  # the last part may be small
        self._buffer.clear()
        self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    def _upload(self, data: bytes) -> None:
        number = len(self._parts) + 1
        response = self._s3.upload_part(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=data)
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
