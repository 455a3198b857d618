"""The environment as one typed settings model.

Every variable is documented in the README's configuration table. Endpoints for local AWS are not
settings: boto3 and PynamoDB honour ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Settings(BaseModel):
    # A plain model read from os.environ: pydantic-settings would cost ~40 ms of cold start (it pulls
    # in asyncio and dotenv) for what a dict comprehension does here.
    model_config = ConfigDict(populate_by_name=True, frozen=True, defer_build=True)

    stage: str = Field("dev", alias="APP_STAGE")
    aws_region: str = Field("eu-north-1", alias="AWS_REGION")

    # DynamoDB tables (PynamoDB models read these names when bound, see adapters.dynamo.models).
    table_main: str = Field("customersonly-dev-main", alias="TABLE_MAIN")
    table_consent_ledger: str = Field("customersonly-dev-consent-ledger", alias="TABLE_CONSENT_LEDGER")
    table_audit_log: str = Field("customersonly-dev-audit-log", alias="TABLE_AUDIT_LOG")

    # S3 bucket for uploaded documents (consent documents now; resumes and contracts later).
    documents_bucket: str = Field("customersonly-dev-documents", alias="DOCUMENTS_BUCKET")
    consent_document_max_bytes: int = Field(5 * 1024 * 1024, alias="CONSENT_DOCUMENT_MAX_BYTES")
    # SQS queue that S3 ObjectCreated notifications for the documents bucket go to.
    uploads_queue_name: str = Field("customersonly-dev-uploads", alias="UPLOADS_QUEUE_NAME")
    presigned_post_expiry_seconds: int = Field(600, alias="PRESIGNED_POST_EXPIRY_SECONDS")

    # Cognito: the app verifies tokens itself. The JWKS location is its own setting because moto
    # serves the keys at a local URL while the tokens' `iss` is the real AWS URL.
    user_pool_id: str = Field("", alias="COGNITO_USER_POOL_ID")
    user_pool_client_id: str = Field("", alias="COGNITO_CLIENT_ID")
    jwks_url: str = Field("", alias="COGNITO_JWKS_URL")

    # E-mail (SES) and the web front end that links in e-mails point to.
    email_sender: str = Field("no-reply@customersonly.local", alias="EMAIL_SENDER")
    web_base_url: str = Field("http://localhost:3000", alias="WEB_BASE_URL")

    # HTTP boundary.
    cors_allowed_origins: list[str] = Field(default_factory=lambda: ["http://localhost:3000"], alias="CORS_ALLOWED_ORIGINS")
    max_body_bytes: int = Field(64 * 1024, alias="MAX_BODY_BYTES")

    invitation_ttl_days: int = Field(14, alias="INVITATION_TTL_DAYS")

    # Proposals: the platform's commission on the client's hourly rate (basis points: 1500 = 15 %), and how
    # long a consultant and an agency have to answer a disclosure consent request.
    commission_bps: int = Field(1500, ge=0, le=10_000, alias="COMMISSION_BPS")
    consent_request_ttl_hours: int = Field(72, ge=1, alias="CONSENT_REQUEST_TTL_HOURS")

    # Contracts: generated PDFs and the signed originals live in their own bucket (versioned, object lock:
    # a signed contract is kept, unalterable, for CONTRACT_RETENTION_YEARS as a bookkeeping record).
    contracts_bucket: str = Field("customersonly-dev-contracts", alias="CONTRACTS_BUCKET")
    contract_retention_years: int = Field(7, ge=1, le=100, alias="CONTRACT_RETENTION_YEARS")
    contract_signing_days: int = Field(14, ge=1, le=120, alias="CONTRACT_SIGNING_DAYS")
    platform_legal_name: str = Field("Customersonly AB", alias="PLATFORM_LEGAL_NAME")
    platform_org_number: str = Field("", alias="PLATFORM_ORG_NUMBER")
    # Who signs: the platform's own simple electronic signature, or DocuSign.
    signature_provider: Literal["builtin", "docusign"] = Field("builtin", alias="SIGNATURE_PROVIDER")
    # The built-in signature posts its events, signed with the first of these keys, to this URL (the API's
    # own /webhooks/esign); the endpoint accepts any of them (rotation), and DocuSign Connect's keys.
    esign_webhook_url: str = Field("http://127.0.0.1:8000/webhooks/esign", alias="ESIGN_WEBHOOK_URL")
    builtin_esign_keys: list[str] = Field(default_factory=list, alias="BUILTIN_ESIGN_KEYS", repr=False)
    # In AWS the keys below are not environment variables: they are read once per container from this Secrets
    # Manager secret (JSON: builtin_esign_keys, docusign_integration_key, docusign_user_id, docusign_account_id,
    # docusign_private_key, docusign_connect_keys; key lists comma-separated), and take precedence.
    esign_secret_arn: str = Field("", alias="ESIGN_SECRET_ARN")
    # DocuSign eSignature (SIGNATURE_PROVIDER=docusign): JWT grant for an integration key impersonating a user.
    docusign_integration_key: str = Field("", alias="DOCUSIGN_INTEGRATION_KEY")
    docusign_user_id: str = Field("", alias="DOCUSIGN_USER_ID")
    docusign_account_id: str = Field("", alias="DOCUSIGN_ACCOUNT_ID")
    docusign_private_key: str = Field("", alias="DOCUSIGN_PRIVATE_KEY", repr=False)
    docusign_auth_server: str = Field("account-d.docusign.com", alias="DOCUSIGN_AUTH_SERVER")
    docusign_base_uri: str = Field("", alias="DOCUSIGN_BASE_URI")  # discovered from /oauth/userinfo when empty
    docusign_connect_keys: list[str] = Field(default_factory=list, alias="DOCUSIGN_CONNECT_KEYS", repr=False)

    # Payments: Stripe (the platform's account, STRIPE_API_KEY) or the offline Stripe of the local stack and
    # the tests (a stateful fake of Stripe's API; its state in OFFLINE_STRIPE_STATE when set, shared by
    # the processes of `make run`; its webhooks posted to OFFLINE_STRIPE_WEBHOOK_URL and <that>/connect).
    payments: Literal["offline", "stripe"] = Field("offline", alias="PAYMENTS")
    stripe_api_key: str = Field("", alias="STRIPE_API_KEY", repr=False)
    stripe_webhook_secret: str = Field("whsec_local_platform", alias="STRIPE_WEBHOOK_SECRET", repr=False)
    stripe_connect_webhook_secret: str = Field("whsec_local_connect", alias="STRIPE_CONNECT_WEBHOOK_SECRET", repr=False)
    # Stripe Tax works the VAT out (production: needs Stripe Tax set up with the Swedish registration); off,
    # the platform's own rule goes on each invoice as a tax rate. The offline Stripe does both.
    stripe_tax: bool = Field(False, alias="STRIPE_TAX")
    offline_stripe_state: str | None = Field(None, alias="OFFLINE_STRIPE_STATE")
    offline_stripe_webhook_url: str = Field("http://127.0.0.1:8000/webhooks/stripe", alias="OFFLINE_STRIPE_WEBHOOK_URL")
    # In AWS the three Stripe keys above are read once per container from this secret (JSON with those names).
    stripe_secret_arn: str = Field("", alias="STRIPE_SECRET_ARN")

    # Retention: consultants inactive this long are asked to sign in, and erased after the grace period.
    retention_inactive_months: int = Field(24, ge=1, alias="RETENTION_INACTIVE_MONTHS")
    retention_grace_days: int = Field(30, ge=1, alias="RETENTION_GRACE_DAYS")

    # Where consultants are searched: the embedded index (tantivy; a directory shared by the processes of
    # `make run`, in memory when unset), OpenSearch, or none (indexing events are acknowledged, nothing found).
    search_engine: Literal["embedded", "opensearch", "none"] = Field("embedded", alias="SEARCH_ENGINE")
    match_index_dir: str | None = Field(None, alias="MATCH_INDEX_DIR")
    # Optional embeddings for the matching (off by default: skills and text alone must match well). With
    # `bedrock`, consultants are embedded as they are indexed and an assignment when it is matched.
    embedder: Literal["none", "bedrock"] = Field("none", alias="EMBEDDER")
    bedrock_embedding_model: str = Field("amazon.titan-embed-text-v2:0", alias="BEDROCK_EMBEDDING_MODEL")
    embedding_dimension: int = Field(1024, alias="EMBEDDING_DIMENSION")  # Titan Text Embeddings V2: 256, 512 or 1024

    # OpenSearch (SEARCH_ENGINE=opensearch): requests are signed with SigV4 from the Lambda's role unless a
    # username is set (in these settings or in the URL), which means basic auth over HTTPS.
    opensearch_url: str = Field("", alias="OPENSEARCH_URL")
    opensearch_region: str = Field("", alias="OPENSEARCH_REGION")  # AWS_REGION when empty
    opensearch_service: Literal["es", "aoss"] = Field("es", alias="OPENSEARCH_SERVICE")  # domain, or Serverless
    opensearch_username: str = Field("", alias="OPENSEARCH_USERNAME")
    opensearch_password: str = Field("", alias="OPENSEARCH_PASSWORD", repr=False)
    opensearch_verify_certs: bool = Field(True, alias="OPENSEARCH_VERIFY_CERTS")  # false only for a local self-signed cluster
    opensearch_alias: str = Field("consultants", alias="OPENSEARCH_ALIAS")

    # An extra skill taxonomy file (e.g. ESCO, written by `python -m chalicelib.taxonomy.esco`) laid over the built-in one.
    skill_taxonomy_file: str | None = Field(None, alias="SKILL_TAXONOMY_FILE")

    @field_validator("cors_allowed_origins", "builtin_esign_keys", "docusign_connect_keys", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        """A JSON list, or a comma-separated list (of exact origins, or of keys)."""
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else [v.strip() for v in value.split(",") if v.strip()]
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        aliases = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({name: environ[name] for name in aliases if name in environ})

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.aws_region}.amazonaws.com/{self.user_pool_id}"

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.issuer}/.well-known/jwks.json"


# The settings the esign secret (ESIGN_SECRET_ARN) may hold; infra/ creates the secret with exactly these.
ESIGN_SECRET_FIELDS = frozenset(
    {
        "builtin_esign_keys",
        "docusign_integration_key",
        "docusign_user_id",
        "docusign_account_id",
        "docusign_private_key",
        "docusign_connect_keys",
    }
)


# The settings the Stripe secret (STRIPE_SECRET_ARN) may hold; infra/ creates the secret with exactly these.
STRIPE_SECRET_FIELDS = frozenset({"stripe_api_key", "stripe_webhook_secret", "stripe_connect_webhook_secret"})


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    return Settings.from_environment()
