"""S3 storage against moto: the presigned POST policy, a real browser-style upload, the upload handler."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest
import requests

from chalicelib.adapters.storage import S3DocumentStorage
from tests.conftest import LocalStack

pytestmark = pytest.mark.integration
PDF = b"%PDF-1.7\n%%EOF\n"


@pytest.fixture
def storage(local_aws: LocalStack) -> S3DocumentStorage:
    return local_aws.container.storage


def test_the_presigned_post_policy_binds_key_type_and_size(storage: S3DocumentStorage) -> None:
    post = storage.presigned_post("consent-documents/A/B.pdf", content_type="application/pdf", max_bytes=5000, expires_in=600)
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    conditions = policy["conditions"]
    assert {"key": "consent-documents/A/B.pdf"} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert ["content-length-range", 1, 5000] in conditions
    assert post.fields["key"] == "consent-documents/A/B.pdf" and post.fields["Content-Type"] == "application/pdf"


def test_a_browser_style_upload_lands_and_versions_are_kept_apart(storage: S3DocumentStorage) -> None:
    key = "consent-documents/test/upload.pdf"
    post = storage.presigned_post(key, content_type="application/pdf", max_bytes=5000, expires_in=600)
    response = requests.post(post.url, data=post.fields, files={"file": ("consent.pdf", PDF, "application/pdf")}, timeout=10)
    assert response.status_code in (200, 204), response.text
    first = storage.fetch(key, None, 5000)
    assert first is not None and first.size == len(PDF) and first.content == PDF and first.version_id
    requests.post(post.url, data=post.fields, files={"file": ("consent.pdf", PDF + b"%more", "application/pdf")}, timeout=10)
    assert storage.fetch(key, None, 5000).content == PDF + b"%more"  # type: ignore[union-attr]
    assert storage.fetch(key, first.version_id, 5000).content == PDF  # type: ignore[union-attr]
    assert requests.get(storage.presigned_get(key, first.version_id, expires_in=60), timeout=10).content == PDF
    prefix = storage.fetch(key, None, 4)
    assert prefix is not None and prefix.size == len(PDF) + 5 and prefix.content == PDF[:5]  # a bounded read knows the full size
    storage.delete(key, first.version_id)
    assert storage.fetch(key, first.version_id, 5000) is None
    assert storage.fetch("consent-documents/test/missing.pdf", None, 10) is None


def test_uploads_reach_the_queue_that_feeds_the_upload_handler(local_aws: LocalStack, storage: S3DocumentStorage) -> None:
    from chalicelib.events.uploads import created_objects

    key = "consent-documents/test/with space+plus.pdf"
    post = storage.presigned_post(key, content_type="application/pdf", max_bytes=5000, expires_in=600)
    requests.post(post.url, data=post.fields, files={"file": ("c.pdf", PDF, "application/pdf")}, timeout=10).raise_for_status()
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=local_aws.container.settings.uploads_queue_name)["QueueUrl"]
    keys: list[str] = []
    for _ in range(10):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

            keys += [k for k, _ in created_objects(SQSRecord({"messageId": message["MessageId"], "body": message["Body"]}))]
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if key in keys:
            break
    assert key in keys  # decoded from the URL-encoded key in the notification


def test_an_empty_upload_reads_as_size_zero(storage: S3DocumentStorage, local_aws: LocalStack) -> None:
    key = "consent-documents/test/empty.pdf"
    boto3.client("s3").put_object(Bucket=local_aws.container.settings.documents_bucket, Key=key, Body=b"")
    fetched = storage.fetch(key, None, 5000)
    assert fetched is not None and fetched.size == 0 and fetched.content == b""


def test_an_archive_is_streamed_to_s3_in_parts_and_reads_back_whole(storage: S3DocumentStorage, local_aws: LocalStack) -> None:
    import io
    import os
    import uuid
    import zipfile

    from chalicelib.services.ports import ArchiveMember

    s3, bucket = boto3.client("s3"), local_aws.container.settings.documents_bucket  # type: ignore[attr-defined]
    source = f"files/test-{uuid.uuid4().hex}/big"
    big = os.urandom(12 * 1024 * 1024)  # incompressible: the zip needs two parts
    version = s3.put_object(Bucket=bucket, Key=source, Body=big)["VersionId"]
    key = f"exports/test-{uuid.uuid4().hex}.zip"
    storage.write_archive(key, [ArchiveMember("big.bin", source_key=source, source_version=version), ArchiveMember("a.txt", content=b"hi")])
    assert s3.head_object(Bucket=bucket, Key=key, PartNumber=1)["PartsCount"] == 2
    assert s3.head_object(Bucket=bucket, Key=key)["ContentType"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert archive.read("big.bin") == big and archive.read("a.txt") == b"hi"
    assert requests.get(f"{local_aws.endpoint}/moto-api/data.json", timeout=30).status_code == 200  # local mail stays readable


def test_an_archive_leaves_out_a_file_deleted_meanwhile(storage: S3DocumentStorage, local_aws: LocalStack) -> None:
    import io
    import uuid
    import zipfile

    from chalicelib.services.ports import ArchiveMember

    s3, bucket = boto3.client("s3"), local_aws.container.settings.documents_bucket  # type: ignore[attr-defined]
    key = f"exports/test-{uuid.uuid4().hex}.zip"
    storage.write_archive(key, [ArchiveMember("a.txt", content=b"hi"), ArchiveMember("gone", source_key=f"files/{uuid.uuid4().hex}")])
    archive = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert archive.namelist() == ["a.txt"]


def test_an_archive_that_fails_half_way_leaves_no_object_and_no_open_upload(
    storage: S3DocumentStorage, local_aws: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from chalicelib.services.ports import ArchiveMember

    s3, bucket = boto3.client("s3"), local_aws.container.settings.documents_bucket  # type: ignore[attr-defined]
    key = f"exports/test-{uuid.uuid4().hex}.zip"

    def members() -> Iterator[ArchiveMember]:
        yield ArchiveMember("a.txt", content=b"hi")
        raise RuntimeError("the build was cut short")

    with pytest.raises(RuntimeError):
        storage.write_archive(key, members())
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert [u for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if u["Key"] == key] == []


def test_erase_removes_every_version_delete_marker_and_unfinished_upload(storage: S3DocumentStorage, local_aws: LocalStack) -> None:
    import uuid

    s3, bucket = boto3.client("s3"), local_aws.container.settings.documents_bucket  # type: ignore[attr-defined]
    prefix = f"files/test-{uuid.uuid4().hex}/"
    s3.put_object(Bucket=bucket, Key=prefix + "a", Body=b"1")
    s3.put_object(Bucket=bucket, Key=prefix + "a", Body=b"2")
    s3.delete_object(Bucket=bucket, Key=prefix + "a")  # a delete marker over two versions
    upload = s3.create_multipart_upload(Bucket=bucket, Key=prefix + "b")["UploadId"]
    s3.upload_part(Bucket=bucket, Key=prefix + "b", UploadId=upload, PartNumber=1, Body=b"part")
    s3.put_object(Bucket=bucket, Key=f"files/test-{uuid.uuid4().hex}/other", Body=b"kept")

    assert storage.erase(prefix) == 4
    listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    assert "Versions" not in listed and "DeleteMarkers" not in listed
    assert [u for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])] == []
    with pytest.raises(ValueError):
        storage.erase("")


def test_a_signed_contract_is_stored_locked_and_no_one_can_delete_or_replace_that_version(local_aws: LocalStack) -> None:
    from datetime import UTC, datetime, timedelta

    settings = local_aws.container.settings  # type: ignore[attr-defined]
    s3 = boto3.client("s3")
    contracts = S3DocumentStorage(s3, settings.contracts_bucket)
    key = "contracts/e1/c1/CO-C1-v1-signed.pdf"
    locked = contracts.put(key, b"%PDF-1.7 signed", content_type="application/pdf", retain_until=datetime.now(UTC) + timedelta(days=1))
    draft = contracts.put("contracts/e1/c1/CO-C1-v1.pdf", b"%PDF-1.7 draft", content_type="application/pdf")
    assert locked.version_id and draft.version_id
    head = s3.head_object(Bucket=settings.contracts_bucket, Key=key, VersionId=locked.version_id)
    assert head["ObjectLockMode"] == "COMPLIANCE" and "ObjectLockMode" not in s3.head_object(
        Bucket=settings.contracts_bucket, Key="contracts/e1/c1/CO-C1-v1.pdf", VersionId=draft.version_id
    )
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket=settings.contracts_bucket, Key=key, VersionId=locked.version_id)
    fetched = contracts.fetch(key, locked.version_id, max_bytes=1024)
    assert fetched is not None and fetched.content == b"%PDF-1.7 signed"
    # A later put is a new version; the locked one reads as it was.
    contracts.put(key, b"%PDF-1.7 other", content_type="application/pdf")
    again = contracts.fetch(key, locked.version_id, max_bytes=1024)
    assert again is not None and again.content == b"%PDF-1.7 signed"
