"""The Bedrock embedder (Titan Text Embeddings V2): the exact InvokeModel request, the response read back,
errors turned into EmbeddingUnavailable, and throttling retried by botocore's standard retry mode."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chalicelib.adapters.embeddings.bedrock import MAX_ATTEMPTS, MAX_INPUT_CHARACTERS, TITAN_TEXT_V2, BedrockEmbedder, client_config
from chalicelib.matching.embeddings import EmbeddingUnavailable


def bedrock_client(endpoint_url: str | None = None) -> Any:
    return boto3.session.Session().client(
        "bedrock-runtime",
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # sent to nothing but a stub or the loopback
        endpoint_url=endpoint_url,
        config=client_config(),
    )


def titan_answer(vector: list[float]) -> dict[str, Any]:
    """A Titan V2 response as Bedrock sends it (the body is a stream of JSON)."""
    payload = json.dumps({"embedding": vector, "inputTextTokenCount": 4, "embeddingsByType": {"float": vector}}).encode()
    return {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"}


def expected_request(text: str, dimension: int) -> dict[str, Any]:
    return {
        "modelId": TITAN_TEXT_V2,
        "contentType": "application/json",
        "accept": "application/json",
        "body": json.dumps({"inputText": text, "dimensions": dimension, "normalize": True}),
    }


def test_one_invoke_model_per_text_with_titans_body_and_the_embeddings_read_back() -> None:
    client = bedrock_client()
    made: list[Any] = []
    embedder = BedrockEmbedder(lambda: made.append(client) or client, dimension=256)
    assert made == []  # no client until the first embedding: configuring the embedder costs a cold start nothing
    first, second = [0.5] * 256, [float(n) / 256 for n in range(256)]
    with Stubber(client) as stub:
        stub.add_response("invoke_model", titan_answer(first), expected_request("Platform engineer", 256))
        stub.add_response("invoke_model", titan_answer(second), expected_request("Kubernetes, Terraform", 256))
        assert embedder.embed(["Platform engineer", "Kubernetes, Terraform"]) == [tuple(first), tuple(second)]
        stub.assert_no_pending_responses()
    assert len(made) == 1 and (embedder.model_id, embedder.dimension) == (TITAN_TEXT_V2, 256)


def test_a_long_text_is_cut_to_what_the_model_takes() -> None:
    client = bedrock_client()
    embedder = BedrockEmbedder(lambda: client, dimension=512)
    long_text = "kubernetes " * 5000
    with Stubber(client) as stub:
        stub.add_response("invoke_model", titan_answer([0.1] * 512), expected_request(long_text[:MAX_INPUT_CHARACTERS], 512))
        assert len(embedder.embed([long_text])[0]) == 512


def test_a_refusal_becomes_embedding_unavailable_naming_the_code_not_the_text() -> None:
    client = bedrock_client()
    embedder = BedrockEmbedder(lambda: client)
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", "AccessDeniedException", "You don't have access to the model", 403)
        with pytest.raises(EmbeddingUnavailable) as refused:
            embedder.embed(["Cecilia's secret summary"])
    assert "AccessDeniedException" in refused.value.detail and "Cecilia" not in refused.value.detail


@pytest.mark.parametrize(
    "answer",
    [{"embedding": [0.1] * 255}, {"embedding": ["x"] * 256}, {"vector": [0.1] * 256}, [0.1] * 256],
    ids=["short", "not-numbers", "no-embedding", "not-an-object"],
)
def test_an_answer_without_a_usable_embedding_is_refused(answer: Any) -> None:
    client = bedrock_client()
    embedder = BedrockEmbedder(lambda: client, dimension=256)
    payload = json.dumps(answer).encode()
    with Stubber(client) as stub:
        stub.add_response("invoke_model", {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"})
        with pytest.raises(EmbeddingUnavailable):
            embedder.embed(["Platform engineer"])


def test_what_titan_cannot_take_is_refused_before_any_call() -> None:
    with pytest.raises(ValueError, match="256, 512, 1024"):
        BedrockEmbedder(lambda: None, dimension=384)
    with pytest.raises(ValueError, match="blank"):
        BedrockEmbedder(lambda: pytest.fail("no client for nothing to embed")).embed(["  \n"])


class FakeBedrock(BaseHTTPRequestHandler):
    """Bedrock runtime on the loopback: answers ThrottlingException (HTTP 429) to the first ``throttle``
    requests, then an embedding."""

    throttle = 0
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body})
        if len(type(self).requests) <= type(self).throttle:
            self._answer(429, {"message": "Too many requests, please wait before trying again."}, "ThrottlingException")
        else:
            self._answer(200, {"embedding": [0.25] * body["dimensions"], "inputTextTokenCount": 2})

    def _answer(self, status: int, payload: dict[str, Any], error_type: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def fake_bedrock() -> Iterator[str]:
    FakeBedrock.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeBedrock)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_throttling_is_retried_by_botocore(fake_bedrock: str) -> None:
    FakeBedrock.throttle = 1
    embedder = BedrockEmbedder(lambda: bedrock_client(fake_bedrock), dimension=256)
    assert embedder.embed(["Platform engineer"]) == [(0.25,) * 256]
    assert [r["path"] for r in FakeBedrock.requests] == [f"/model/{quote(TITAN_TEXT_V2)}/invoke"] * 2
    assert FakeBedrock.requests[0]["body"] == {"inputText": "Platform engineer", "dimensions": 256, "normalize": True}


def test_throttling_that_lasts_gives_up_after_the_standard_attempts(fake_bedrock: str) -> None:
    FakeBedrock.throttle = 100
    embedder = BedrockEmbedder(lambda: bedrock_client(fake_bedrock), dimension=256)
    with pytest.raises(EmbeddingUnavailable, match="ThrottlingException"):
        embedder.embed(["Platform engineer"])
    assert len(FakeBedrock.requests) == MAX_ATTEMPTS


def test_the_container_builds_the_embedder_from_the_settings_and_no_client_before_it_is_used(tmp_path: Path) -> None:
    from chalicelib.container import Container
    from chalicelib.settings import Settings

    assert Container(Settings.from_environment({})).embedder is None  # off by default
    container = Container(
        Settings.from_environment({"EMBEDDER": "bedrock", "EMBEDDING_DIMENSION": "512", "MATCH_INDEX_DIR": str(tmp_path / "index")})
    )
    embedder = container.embedder
    assert isinstance(embedder, BedrockEmbedder) and (embedder.model_id, embedder.dimension) == (TITAN_TEXT_V2, 512)
    assert embedder._client is None
    assert container.indexing.embedder is embedder
    assert container.match_index._vectors._space == f"{TITAN_TEXT_V2}/512"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="256, 512, 1024"):
        _ = Container(Settings.from_environment({"EMBEDDER": "bedrock", "EMBEDDING_DIMENSION": "1536"})).embedder
