"""The Embedder port on Amazon Bedrock: Amazon Titan Text Embeddings V2 through ``bedrock-runtime``
``InvokeModel``.

Titan V2 embeds one text per call (InvokeModel has no batch for it), so ``embed`` makes one call per text.
Throttling and transient errors are retried by botocore's standard retry mode (exponential backoff with
jitter); whatever still fails becomes ``EmbeddingUnavailable``, and the caller carries on without vectors.
The client is created on the first call, so configuring the embedder costs a cold start nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws_errors import aws_error_code
from chalicelib.matching.embeddings import EmbeddingUnavailable

if TYPE_CHECKING:
    from botocore.config import Config

TITAN_TEXT_V2 = "amazon.titan-embed-text-v2:0"
TITAN_DIMENSIONS = (256, 512, 1024)
# Titan V2 takes at most 8,192 tokens or 50,000 characters. English averages ~4.7 characters a token, but
# dense text (code, lists of tool names, other languages) has fewer, so 20,000 characters stays inside the
# token limit for ordinary profiles while keeping far more than a profile's opening says.
MAX_INPUT_CHARACTERS = 20_000
MAX_ATTEMPTS = 3  # the first call and two retries, within the API's 29 s


def client_config() -> Config:
    from botocore.config import Config

    # total_max_attempts counts the first call; botocore's max_attempts would count retries only.
    return Config(retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}, connect_timeout=3, read_timeout=10)


class BedrockEmbedder:
    def __init__(self, client_factory: Callable[[], Any], *, model_id: str = TITAN_TEXT_V2, dimension: int = 1024) -> None:
        if dimension not in TITAN_DIMENSIONS:
            raise ValueError(f"Titan Text Embeddings V2 returns {', '.join(map(str, TITAN_DIMENSIONS))} dimensions, not {dimension}")
        self._client_factory = client_factory
        self._client: Any = None
        self._model_id = model_id
        self._dimension = dimension

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        return [self._embed_one(text) for text in texts]

    def request_body(self, text: str) -> str:
        """What InvokeModel is sent for ``text``."""
        if not text.strip():
            raise ValueError("there is nothing to embed in a blank text")
        return json.dumps({"inputText": text[:MAX_INPUT_CHARACTERS], "dimensions": self._dimension, "normalize": True})

    def _embed_one(self, text: str) -> tuple[float, ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        body = self.request_body(text)
        if self._client is None:
            self._client = self._client_factory()
        try:
            response = self._client.invoke_model(
                modelId=self._model_id, contentType="application/json", accept="application/json", body=body
            )
            payload = json.loads(response["body"].read())
        except ClientError as exc:
            # The code only (e.g. ThrottlingException after the retries, AccessDeniedException): never the text.
            raise EmbeddingUnavailable(f"Bedrock refused the embedding: {aws_error_code(exc) or 'unknown error'}") from exc
        except (BotoCoreError, ValueError) as exc:
            raise EmbeddingUnavailable(f"Bedrock could not be reached or answered unreadably: {type(exc).__name__}") from exc
        return self._vector(payload)

    def _vector(self, payload: Any) -> tuple[float, ...]:
        embedding = payload.get("embedding") if isinstance(payload, dict) else None
        if (
            not isinstance(embedding, list)
            or len(embedding) != self._dimension
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in embedding)
        ):
            raise EmbeddingUnavailable(f"Bedrock answered without an embedding of {self._dimension} numbers")
        return tuple(float(x) for x in embedding)
