"""S3 document storage: presigned POST for browser uploads, presigned GET for downloads, checks."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from chalicelib.domain.ids import utcnow
from chalicelib.services.ports import PresignedPost, StoredObject

_CHUNK = 1024 * 1024


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


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

    def presigned_get(self, key: str, *, expires_in: int) -> str:
        url: str = self._s3.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in)
        return url

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(size=int(head["ContentLength"]), content_type=head.get("ContentType"))

    def read_prefix(self, key: str, length: int) -> bytes:
        body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"].read()
        return body

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].iter_chunks(_CHUNK):
            digest.update(chunk)
        return digest.hexdigest()

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)
