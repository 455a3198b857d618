"""The composition root: builds every adapter lazily, once per Lambda container.

Nothing here runs at import time, so a cold start pays only for what the first request uses. Tests
override by calling ``set_container`` with a container built on other settings or fakes.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.domain.ids import utcnow
from chalicelib.errors import Conflict
from chalicelib.settings import ESIGN_SECRET_FIELDS, STRIPE_SECRET_FIELDS, Settings, load_settings

if TYPE_CHECKING:
    from chalicelib.adapters.payments.offline import OfflineStripe
    from chalicelib.domain.consent import ConsentEntry
    from chalicelib.domain.identity import Principal, RequestContext
    from chalicelib.matching.embeddings import Embedder
    from chalicelib.matching.index import MatchIndex
    from chalicelib.services.accounts import AccountPorts
    from chalicelib.services.assignments import AssignmentPorts
    from chalicelib.services.candidacies import CandidacyPorts
    from chalicelib.services.consent_documents import UploadPolicy
    from chalicelib.services.consents import ConsentPorts
    from chalicelib.services.contracts import ContractPorts
    from chalicelib.services.engagement_changes import ChangePorts
    from chalicelib.services.erasure import ErasurePorts
    from chalicelib.services.evaluations import EvaluationPorts
    from chalicelib.services.invoicing import InvoicingPorts
    from chalicelib.services.matching import IndexingPorts, MatchingPorts
    from chalicelib.services.milestones import MilestonePorts
    from chalicelib.services.notifications import NotificationPorts
    from chalicelib.services.ports import (
        AccountRepository,
        AuditLog,
        ConsentLedger,
        ContractStorage,
        DocumentStorage,
        EmailGateway,
        IdentityGateway,
        NotificationRepository,
        Outbox,
        PaymentGateway,
        ProfileRepository,
        SignatureProvider,
        SignatureWebhooks,
        TokenVerifier,
        UnitOfWork,
        WebhookSender,
    )
    from chalicelib.services.profiles import ProfilePorts
    from chalicelib.services.reviews import ReviewPorts
    from chalicelib.services.signing import SigningPorts
    from chalicelib.services.timesheets import TimesheetPorts
    from chalicelib.taxonomy import SkillTaxonomy


class Container:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()

    def _client(self, service: str, config: Any = None) -> Any:
        import boto3  # lazily: botocore costs ~100 ms of cold start

        return boto3.session.Session().client(service, region_name=self.settings.aws_region, config=config)

    @cached_property
    def uow(self) -> UnitOfWork:
        from chalicelib.adapters.dynamo.models import bind_table_names
        from chalicelib.adapters.dynamo.repositories import DynamoUnitOfWork

        s = self.settings
        bind_table_names(s.table_main, s.table_consent_ledger, s.table_audit_log)
        return DynamoUnitOfWork(s.aws_region)

    @cached_property
    def account_repository(self) -> AccountRepository:
        from chalicelib.adapters.dynamo.repositories import DynamoAccountRepository

        _ = self.uow  # binds the table names
        return DynamoAccountRepository()

    @cached_property
    def profile_repository(self) -> ProfileRepository:
        from chalicelib.adapters.dynamo.repositories import DynamoProfileRepository

        _ = self.uow
        return DynamoProfileRepository()

    @cached_property
    def notification_repository(self) -> NotificationRepository:
        from chalicelib.adapters.dynamo.repositories import DynamoNotificationRepository

        _ = self.uow
        return DynamoNotificationRepository()

    @cached_property
    def notifications(self) -> NotificationPorts:
        from chalicelib.services.notifications import NotificationPorts

        return NotificationPorts(notifications=self.notification_repository, uow=self.uow, now=utcnow)

    @cached_property
    def taxonomy(self) -> SkillTaxonomy:
        from chalicelib.taxonomy import load_taxonomy

        extra = self.settings.skill_taxonomy_file
        return load_taxonomy(Path(extra) if extra else None)

    @cached_property
    def profiles(self) -> ProfilePorts:
        from chalicelib.services.profiles import ProfilePorts

        return ProfilePorts(accounts=self.accounts, profiles=self.profile_repository, ledger=self.consent_ledger)

    @cached_property
    def consent_ledger(self) -> ConsentLedger:
        from chalicelib.adapters.dynamo.repositories import DynamoConsentLedger

        _ = self.uow
        return DynamoConsentLedger()

    @cached_property
    def audit_log(self) -> AuditLog:
        from chalicelib.adapters.dynamo.repositories import DynamoAuditLog

        _ = self.uow
        return DynamoAuditLog()

    @cached_property
    def outbox(self) -> Outbox:
        from chalicelib.adapters.dynamo.repositories import DynamoOutbox

        _ = self.uow
        return DynamoOutbox()

    @cached_property
    def identity(self) -> IdentityGateway:
        from chalicelib.adapters.identity import CognitoIdentityGateway

        return CognitoIdentityGateway(self._client("cognito-idp"), self.settings.user_pool_id, self.settings.user_pool_client_id)

    @cached_property
    def token_verifier(self) -> TokenVerifier:
        from chalicelib.adapters.identity import JwtTokenVerifier

        s = self.settings
        return JwtTokenVerifier(s.resolved_jwks_url, s.issuer, s.user_pool_client_id)

    @cached_property
    def storage(self) -> DocumentStorage:
        from chalicelib.adapters.storage import S3DocumentStorage

        return S3DocumentStorage(self._client("s3"), self.settings.documents_bucket)

    @cached_property
    def email(self) -> EmailGateway:
        from chalicelib.adapters.email import SesEmailGateway

        return SesEmailGateway(self._client("ses"), self.settings.email_sender)

    # --- port bundles handed to services ---

    @cached_property
    def accounts(self) -> AccountPorts:
        from chalicelib.services.accounts import AccountPorts

        return AccountPorts(
            accounts=self.account_repository,
            uow=self.uow,
            identity=self.identity,
            now=utcnow,
            web_base_url=self.settings.web_base_url,
            invitation_ttl=timedelta(days=self.settings.invitation_ttl_days),
        )

    @cached_property
    def consents(self) -> ConsentPorts:
        from chalicelib.services.candidacies import withdraw_disclosure_consent
        from chalicelib.services.consents import ConsentPorts

        def withdraw_disclosure(given: ConsentEntry, principal: Principal, ctx: RequestContext) -> bool:
            return withdraw_disclosure_consent(self.candidacies, given, principal, ctx)

        return ConsentPorts(
            accounts=self.accounts, ledger=self.consent_ledger, audit=self.audit_log, withdraw_disclosure=withdraw_disclosure
        )

    @cached_property
    def match_index(self) -> MatchIndex:
        if self.settings.search_engine == "none":
            from chalicelib.matching.index import NoMatchIndex

            return NoMatchIndex()
        if self.settings.search_engine == "opensearch":
            from chalicelib.adapters.search.opensearch import OpenSearchMatchIndex, opensearch_client

            s = self.settings
            client = opensearch_client(
                s.opensearch_url,
                region=s.opensearch_region or s.aws_region,
                service=s.opensearch_service,
                username=s.opensearch_username,
                password=s.opensearch_password,
                verify_certs=s.opensearch_verify_certs,
            )
            # Vectors (a knn_vector field, hybrid queries) exactly when an embedder makes them.
            embedder = self.embedder
            return OpenSearchMatchIndex(client, s.opensearch_alias, vector_dimension=embedder.dimension if embedder else 0)
        from chalicelib.adapters.search.embedded import EmbeddedMatchIndex
        from chalicelib.matching.embeddings import vector_space

        directory = self.settings.match_index_dir
        embedder = self.embedder
        return EmbeddedMatchIndex(Path(directory) if directory else None, vector_space(embedder) if embedder else "")

    @cached_property
    def embedder(self) -> Embedder | None:
        if self.settings.embedder == "none":
            return None
        from chalicelib.adapters.embeddings.bedrock import BedrockEmbedder, client_config

        s = self.settings
        # The client is made on the first embedding, not here.
        return BedrockEmbedder(
            lambda: self._client("bedrock-runtime", client_config()), model_id=s.bedrock_embedding_model, dimension=s.embedding_dimension
        )

    @cached_property
    def indexing(self) -> IndexingPorts:
        from chalicelib.services.matching import IndexingPorts

        return IndexingPorts(
            accounts=self.account_repository,
            profiles=self.profile_repository,
            ledger=self.consent_ledger,
            index=self.match_index,
            embedder=self.embedder,
            taxonomy=self.taxonomy,
        )

    @cached_property
    def matching(self) -> MatchingPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoReviewRepository
        from chalicelib.services.matching import MatchingPorts

        return MatchingPorts(
            assignments=self.assignments,
            indexing=self.indexing,
            engine=self.settings.search_engine,
            taxonomy_version=self.taxonomy.version,
            reviews=DynamoReviewRepository(),
        )

    @cached_property
    def assignments(self) -> AssignmentPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoAssignmentRepository
        from chalicelib.services.assignments import AssignmentPorts

        _ = self.uow
        return AssignmentPorts(accounts=self.accounts, assignments=DynamoAssignmentRepository())

    @cached_property
    def candidacies(self) -> CandidacyPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoProposalRepository
        from chalicelib.services.candidacies import CandidacyPorts

        s = self.settings
        return CandidacyPorts(
            assignments=self.assignments,
            proposals=DynamoProposalRepository(),
            profiles=self.profile_repository,
            ledger=self.consent_ledger,
            commission_bps=s.commission_bps,
            consent_request_ttl=timedelta(hours=s.consent_request_ttl_hours),
            organizer_email=s.email_sender,
        )

    @cached_property
    def erasure(self) -> ErasurePorts:
        from chalicelib.adapters.dynamo.repositories import DynamoAppendOnlyEraser, DynamoErasureRepository, DynamoReviewRepository
        from chalicelib.services.candidacies import withdraw_for_erasure
        from chalicelib.services.erasure import ErasurePorts
        from chalicelib.services.reviews import erase_consultant_reviews

        _ = self.uow
        return ErasurePorts(
            accounts=self.accounts,
            erasures=DynamoErasureRepository(),
            ledger=self.consent_ledger,
            audit_log=self.audit_log,
            append_only=DynamoAppendOnlyEraser(self.settings.aws_region),
            storage=self.storage,
            withdraw_candidacies=lambda consultant_id: withdraw_for_erasure(self.candidacies, consultant_id),
            erase_reviews=lambda consultant_id: erase_consultant_reviews(DynamoReviewRepository(), self.uow, consultant_id),
        )

    @cached_property
    def contract_storage(self) -> ContractStorage:
        from chalicelib.adapters.storage import S3DocumentStorage

        return S3DocumentStorage(self._client("s3"), self.settings.contracts_bucket)

    @cached_property
    def signing(self) -> SigningPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoSigningRepository
        from chalicelib.services.signing import SigningPorts

        _ = self.uow
        return SigningPorts(accounts=self.accounts, envelopes=DynamoSigningRepository(), storage=self.contract_storage)

    @cached_property
    def esign_settings(self) -> Settings:
        """The settings with the e-signature keys from their secret, when one is named (see settings.py)."""
        return self._with_secret(self.settings.esign_secret_arn, ESIGN_SECRET_FIELDS)

    @cached_property
    def stripe_settings(self) -> Settings:
        """The settings with the Stripe keys from their secret, when one is named (see settings.py)."""
        return self._with_secret(self.settings.stripe_secret_arn, STRIPE_SECRET_FIELDS)

    def _with_secret(self, arn: str, fields: frozenset[str]) -> Settings:
        """The settings with ``fields`` taken from the JSON secret ``arn`` (read once per container)."""
        s = self.settings
        if not arn:
            return s
        import json

        secret = json.loads(self._client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
        given = {name: value for name, value in secret.items() if name in fields and value}
        return Settings.model_validate({**s.model_dump(), **given})

    def signature_provider(self, name: str) -> SignatureProvider:
        if name == "builtin":
            from chalicelib.services.signing import BuiltinSignatureProvider

            return BuiltinSignatureProvider(self.signing)
        if name == "docusign":
            if not self.esign_settings.docusign_integration_key:
                raise Conflict("DocuSign is not configured here; send with the built-in signature.")
            return self.docusign
        raise ValueError(f"no signature provider named {name!r}")

    @cached_property
    def docusign(self) -> SignatureProvider:
        from chalicelib.adapters.esign.docusign import DocuSignProvider

        s = self.esign_settings
        return DocuSignProvider(
            integration_key=s.docusign_integration_key,
            user_id=s.docusign_user_id,
            account_id=s.docusign_account_id,
            private_key_pem=s.docusign_private_key,
            auth_server=s.docusign_auth_server,
            base_uri=s.docusign_base_uri or None,
        )

    @cached_property
    def signature_webhooks(self) -> SignatureWebhooks:
        from chalicelib.adapters.esign.webhooks import ConnectWebhooks

        s = self.esign_settings
        return ConnectWebhooks([*s.builtin_esign_keys, *s.docusign_connect_keys])

    @cached_property
    def webhook_sender(self) -> WebhookSender:
        from chalicelib.adapters.esign.webhooks import HttpWebhookSender

        keys = self.esign_settings.builtin_esign_keys
        return HttpWebhookSender(self.settings.esign_webhook_url, keys[0] if keys else "")

    @cached_property
    def contracts(self) -> ContractPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoEngagementRepository
        from chalicelib.services.contracts import ContractPorts

        s = self.settings
        return ContractPorts(
            candidacies=self.candidacies,
            engagements=DynamoEngagementRepository(),
            storage=self.contract_storage,
            providers=self.signature_provider,
            default_provider=s.signature_provider,
            webhooks=self.signature_webhooks,
            platform_name=s.platform_legal_name,
            platform_org_number=s.platform_org_number,
            signing_days=s.contract_signing_days,
            retention_years=s.contract_retention_years,
        )

    @cached_property
    def timesheets(self) -> TimesheetPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoTimesheetRepository
        from chalicelib.services.timesheets import TimesheetPorts

        return TimesheetPorts(contracts=self.contracts, timesheets=DynamoTimesheetRepository())

    @cached_property
    def engagement_changes(self) -> ChangePorts:
        from chalicelib.services.engagement_changes import ChangePorts

        return ChangePorts(contracts=self.contracts, timesheets=self.timesheets.timesheets)

    @cached_property
    def evaluations(self) -> EvaluationPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoEvaluationRepository
        from chalicelib.services.evaluations import EvaluationPorts

        return EvaluationPorts(self.contracts, DynamoEvaluationRepository())

    @cached_property
    def reviews(self) -> ReviewPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoReviewRepository
        from chalicelib.services.reviews import ReviewPorts

        return ReviewPorts(contracts=self.contracts, reviews=DynamoReviewRepository())

    @cached_property
    def milestones(self) -> MilestonePorts:
        from chalicelib.services.milestones import MilestonePorts

        return MilestonePorts(self.timesheets, self.storage)

    @cached_property
    def offline_stripe(self) -> OfflineStripe:
        from chalicelib.adapters.payments.offline import HttpStripeWebhookSink, OfflineStripe

        s = self.settings
        state = Path(s.offline_stripe_state) if s.offline_stripe_state else None
        sink = HttpStripeWebhookSink(s.offline_stripe_webhook_url)
        return OfflineStripe(state, sink, (s.stripe_webhook_secret, s.stripe_connect_webhook_secret))

    @cached_property
    def payment_gateway(self) -> PaymentGateway:
        from chalicelib.adapters.payments.stripe_gateway import StripeGateway

        s = self.stripe_settings
        _ensure_payments_configured(s)
        if s.payments == "stripe":
            return StripeGateway(s.stripe_api_key, automatic_tax=s.stripe_tax)
        # The offline Stripe answers the real SDK: the same adapter runs, only the transport differs.
        return StripeGateway(
            "sk_test_offline", http_client=self.offline_stripe.http_client, max_network_retries=0, automatic_tax=s.stripe_tax
        )

    @cached_property
    def invoicing(self) -> InvoicingPorts:
        from chalicelib.adapters.dynamo.repositories import DynamoPaymentsRepository
        from chalicelib.adapters.payments.stripe_gateway import StripeWebhooks
        from chalicelib.services.invoicing import InvoicingPorts

        s = self.stripe_settings
        _ensure_payments_configured(s)
        webhooks = StripeWebhooks(s.stripe_webhook_secret, s.stripe_connect_webhook_secret)
        return InvoicingPorts(self.timesheets, DynamoPaymentsRepository(), self.payment_gateway, webhooks)

    @cached_property
    def consent_document_policy(self) -> UploadPolicy:
        from chalicelib.services.consent_documents import UploadPolicy

        s = self.settings
        return UploadPolicy(max_bytes=s.consent_document_max_bytes, expires_in=s.presigned_post_expiry_seconds)


LOCAL_SECRET_PREFIX = "whsec_local_"  # noqa: S105 - a prefix to refuse, not a secret


def _ensure_payments_configured(s: Settings) -> None:
    """Refuses to take money with the wrong set-up: real Stripe needs its key and both webhook secrets, and
    never the local ones (published in this repository, anyone could sign with them); the offline Stripe,
    which keeps its objects in memory, is never the production stage's."""
    if s.payments == "stripe":
        secrets = (s.stripe_webhook_secret, s.stripe_connect_webhook_secret)
        if not s.stripe_api_key or any(not w or w.startswith(LOCAL_SECRET_PREFIX) for w in secrets):
            raise RuntimeError("PAYMENTS=stripe needs STRIPE_API_KEY and both webhook signing secrets (not the local defaults)")
    elif s.stage == "prod":
        raise RuntimeError("the production stage takes payments with Stripe (PAYMENTS=stripe), not the offline Stripe")


_container: Container | None = None


def get_container() -> Container:
    global _container
    if _container is None:
        _container = Container()
    return _container


def set_container(container: Container | None) -> None:
    global _container
    _container = container
