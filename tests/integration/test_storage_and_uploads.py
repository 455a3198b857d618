"""S3 storage against moto: the presigned POST policy, a real browser-style upload, the upload handler."""

from __future__ import annotations

import base64
import json

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


def test_a_browser_style_upload_lands_and_can_be_checked(storage: S3DocumentStorage) -> None:
    key = "consent-documents/test/upload.pdf"
    post = storage.presigned_post(key, content_type="application/pdf", max_bytes=5000, expires_in=600)
    response = requests.post(post.url, data=post.fields, files={"file": ("consent.pdf", PDF, "application/pdf")}, timeout=10)
    assert response.status_code in (200, 204), response.text
    stored = storage.head(key)
    assert stored is not None and stored.size == len(PDF)
    assert storage.read_prefix(key, 5) == b"%PDF-"
    import hashlib

    assert storage.sha256(key) == hashlib.sha256(PDF).hexdigest()
    assert requests.get(storage.presigned_get(key, expires_in=60), timeout=10).content == PDF
    storage.delete(key)
    assert storage.head(key) is None


def test_uploads_reach_the_queue_that_feeds_the_upload_handler(local_aws: LocalStack, storage: S3DocumentStorage) -> None:
    from chalicelib.events.uploads import object_keys

    key = "consent-documents/test/with space+plus.pdf"
    post = storage.presigned_post(key, content_type="application/pdf", max_bytes=5000, expires_in=600)
    requests.post(post.url, data=post.fields, files={"file": ("c.pdf", PDF, "application/pdf")}, timeout=10).raise_for_status()
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=local_aws.container.settings.uploads_queue_name)["QueueUrl"]
    keys: list[str] = []
    for _ in range(10):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

            keys += object_keys(SQSRecord({"messageId": message["MessageId"], "body": message["Body"]}))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if key in keys:
            break
    assert key in keys  # decoded from the URL-encoded key in the notification
