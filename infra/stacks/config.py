"""Deployment settings read from CDK context (``cdk.json`` holds the dev defaults; ``-c key=value`` overrides).

Everything that differs between stages is decided here, once, so the stacks only ask questions such as
``config.protected`` instead of comparing stage names.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

INFRA_DIR = Path(__file__).resolve().parent.parent
# The Chalice project (app.py, chalicelib/, requirements.txt, .chalice/config.json).
PROJECT_ROOT = INFRA_DIR.parent

APP_NAME = "customersonly"
DEFAULT_REGION = "eu-north-1"

# Lambda timeouts. API Gateway gives up after 29 s, so a longer API timeout would only burn money; the
# event handlers read whole S3 objects and may wait on SES, so they get more. The uploads queue's
# visibility timeout is derived from the handler's (AWS requires >= timeout and recommends 6x).
API_TIMEOUT = cdk.Duration.seconds(29)
EVENT_HANDLER_TIMEOUT = cdk.Duration.seconds(60)
# The privacy worker zips up to 50 files of 25 MB, or erases a person with all their records: Lambda's
# longest timeout, and more memory (which is also more CPU for deflating).
PRIVACY_WORKER_TIMEOUT = cdk.Duration.minutes(15)
PRIVACY_WORKER_MEMORY_MB = 1024
# pydantic-core, cryptography and botocore are CPU-bound at cold start; Lambda CPU scales with memory.
LAMBDA_MEMORY_MB = 512
# The main table's indexes when it was first deployed (gsi1, gsi2): `mainTableIndexes` may not go below.
FIRST_DEPLOYED_MAIN_TABLE_INDEXES = 2
# Contracts and e-signatures. "builtin" is the platform's own simple electronic signature, "docusign" the
# DocuSign adapter (chalicelib/services/ports.py SignatureProvider.name).
SIGNATURE_PROVIDERS = ("builtin", "docusign")
DEFAULT_SIGNATURE_PROVIDER = "builtin"
# Bookkeeping law keeps contracts (accounting records) for 7 years: the COMPLIANCE retention the app puts
# on each signed contract object.
DEFAULT_CONTRACT_RETENTION_YEARS = 7
# How long the parties have to sign a contract once it is sent.
DEFAULT_CONTRACT_SIGNING_DAYS = 14
# DocuSign's OAuth host: the developer (demo) environment; production is account.docusign.com.
DEFAULT_DOCUSIGN_AUTH_SERVER = "account-d.docusign.com"
# Path of the e-signature webhook under the API's base URL (the app's route).
ESIGN_WEBHOOK_PATH = "webhooks/esign"
# Payments (chalicelib/settings.py PAYMENTS): Stripe, with the keys from the secret customersonly-<stage>/stripe
# (dev with Stripe's test-mode keys), or the offline Stripe of the local stack. The offline one keeps its
# objects in each Lambda container's memory, so it is for a throwaway dev stage at most, never prod.
PAYMENTS_PROVIDERS = ("stripe", "offline")
DEFAULT_PAYMENTS = "stripe"
# The dev default of `platformOrgNumber` in cdk.json: not a real organisation number, refused in prod.
PLACEHOLDER_ORG_NUMBER = "000000-0000"
# API Gateway's stage throttle (steady requests per second, burst), for every method: far above what the web
# forms need, far below the account's 10,000 rps that one runaway client could otherwise take.
DEFAULT_API_THROTTLE_RATE = 50
DEFAULT_API_THROTTLE_BURST = 100
# WAF rate-based rules, requests per client IP per 5 minutes: the public endpoints that create accounts,
# mail codes or check passwords (a few per person and day), and everything.
DEFAULT_WAF_PUBLIC_RATE_LIMIT = 100
DEFAULT_WAF_RATE_LIMIT = 2000
WAF_MIN_RATE_LIMIT = 10  # the smallest limit WAF accepts
# The OpenSearch domain per stage (searchInstanceType, searchDataNodes, searchVolumeGb): one small node for
# dev; two general-purpose nodes in two availability zones for prod, so a zone failure leaves search up.
SEARCH_DEFAULTS = {
    "dev": ("t3.small.search", 1, 10),
    "prod": ("m6g.large.search", 2, 20),
}
MIN_SEARCH_VOLUME_GB = 10  # the smallest EBS volume OpenSearch Service takes
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")


class ConfigError(ValueError):
    """A context setting is missing or unusable; raised before anything is synthesized."""


def _chalice_config(project_root: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((project_root / ".chalice" / "config.json").read_text())
    return config


def chalice_stages(project_root: Path = PROJECT_ROOT) -> frozenset[str]:
    """Stages declared in .chalice/config.json: chalice ignores an unknown stage silently, we do not."""
    return frozenset(_chalice_config(project_root).get("stages", {}))


def chalice_api_stage(stage: str, project_root: Path = PROJECT_ROOT) -> str:
    """The API Gateway stage chalice deploys the REST API to (``api_gateway_stage``; chalice's default ``api``)."""
    config = _chalice_config(project_root)
    return str(config["stages"][stage].get("api_gateway_stage", config.get("api_gateway_stage", "api")))


@dataclass(frozen=True)
class StageConfig:
    stage: str
    region: str
    account: str | None
    web_origins: tuple[str, ...]
    web_base_url: str
    email_sender: str
    # Cognito composition rules (upper/lower/digit/symbol) on top of the 12-character minimum. The app's
    # own schema and the local stack only require the length; see README "Password policy".
    password_requires_character_classes: bool
    # Deploy only the main table's first n indexes (None: all). Only for adding several indexes to a
    # table that exists, one per deployment: see README "Adding an index to a deployed table".
    main_table_indexes: int | None = None
    # Contracts and e-signatures (README "Context settings"). Secrets are not settings: they are in the
    # Secrets Manager secret customersonly-<stage>/esign (data stack).
    signature_provider: str = DEFAULT_SIGNATURE_PROVIDER
    contract_retention_years: int = DEFAULT_CONTRACT_RETENTION_YEARS
    contract_signing_days: int = DEFAULT_CONTRACT_SIGNING_DAYS
    platform_legal_name: str = ""
    platform_org_number: str = ""
    docusign_auth_server: str = DEFAULT_DOCUSIGN_AUTH_SERVER
    docusign_base_uri: str = ""
    # The REST API's base URL as its callers see it (e.g. a custom domain, or the ApiUrl output of an
    # earlier deployment). None: ESIGN_WEBHOOK_URL is derived from the deployed REST API, which the API
    # handler's own environment cannot reference (README "Environment of the functions").
    api_base_url: str | None = None
    # PAYMENTS of every function (README "Context settings"); the Stripe keys are in the stripe secret.
    payments: str = DEFAULT_PAYMENTS
    # STRIPE_TAX: Stripe Tax works the VAT out (context `stripeTax`, on by default; set Stripe Tax up first).
    stripe_tax: bool = True
    # Where CloudWatch alarms are mailed (an SNS e-mail subscription); None: the topic only.
    alarm_email: str | None = None
    api_throttle_rate: int = DEFAULT_API_THROTTLE_RATE
    api_throttle_burst: int = DEFAULT_API_THROTTLE_BURST
    waf_public_rate_limit: int = DEFAULT_WAF_PUBLIC_RATE_LIMIT
    waf_rate_limit: int = DEFAULT_WAF_RATE_LIMIT
    search_instance_type: str = SEARCH_DEFAULTS["dev"][0]
    search_data_nodes: int = SEARCH_DEFAULTS["dev"][1]
    search_volume_gb: int = SEARCH_DEFAULTS["dev"][2]
    # IAM roles of people who run `reindex-matching` against the stage: mapped to the index writers' role.
    search_operator_role_arns: tuple[str, ...] = ()

    @property
    def esign_webhook_url(self) -> str | None:
        """The configured webhook URL, or None when it is derived from the deployed REST API."""
        return None if self.api_base_url is None else f"{self.api_base_url.rstrip('/')}/{ESIGN_WEBHOOK_PATH}"

    def secret_name(self, purpose: str) -> str:
        """Name of a Secrets Manager secret of the stage: ``customersonly-<stage>/<purpose>``."""
        return f"{APP_NAME}-{self.stage}/{purpose}"

    @property
    def esign_secret_name(self) -> str:
        return self.secret_name("esign")

    @property
    def stripe_secret_name(self) -> str:
        return self.secret_name("stripe")

    @property
    def protected(self) -> bool:
        """Production data: retained on stack deletion and guarded by deletion protection."""
        return self.stage == "prod"

    @property
    def removal_policy(self) -> cdk.RemovalPolicy:
        return cdk.RemovalPolicy.RETAIN if self.protected else cdk.RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        # The logs hold no personal data (DESIGN.md conventions), only ids and outcomes.
        return logs.RetentionDays.ONE_YEAR if self.protected else logs.RetentionDays.ONE_MONTH

    @property
    def env(self) -> cdk.Environment:
        return cdk.Environment(account=self.account, region=self.region)

    def name(self, suffix: str) -> str:
        """Physical-name prefix shared by stacks and named resources: ``customersonly-<stage>-<suffix>``."""
        return f"{APP_NAME}-{self.stage}-{suffix}"

    def stack_name(self, seam: str) -> str:
        return self.name(seam)

    @classmethod
    def from_context(cls, node: Any, project_root: Path = PROJECT_ROOT) -> StageConfig:
        """Build and validate the settings from a construct node's context (``app.node``)."""
        stage = str(_get(node, "stage", "dev")).strip()
        stages = chalice_stages(project_root)
        if stage not in stages:
            raise ConfigError(f"stage {stage!r} is not a stage of .chalice/config.json ({', '.join(sorted(stages))})")

        origins = _string_list(_get(node, "webOrigins", []), "webOrigins")
        web_base_url = str(_get(node, "webBaseUrl", "")).strip()
        email_sender = str(_get(node, "emailSender", "")).strip()
        search_type, search_nodes, search_volume = SEARCH_DEFAULTS.get(stage, SEARCH_DEFAULTS["dev"])
        config = cls(
            stage=stage,
            region=str(_get(node, "region", "") or os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION),
            # None keeps the stacks environment-agnostic for offline synth; `cdk deploy` fills it in.
            account=_get(node, "account", None) or os.environ.get("CDK_DEFAULT_ACCOUNT"),
            web_origins=tuple(origins),
            web_base_url=web_base_url,
            email_sender=email_sender,
            password_requires_character_classes=_boolean(_get(node, "passwordRequiresCharacterClasses", False)),
            main_table_indexes=_optional_count(_get(node, "mainTableIndexes", None), "mainTableIndexes"),
            signature_provider=str(_get(node, "signatureProvider", DEFAULT_SIGNATURE_PROVIDER)).strip(),
            contract_retention_years=_count(
                _get(node, "contractRetentionYears", DEFAULT_CONTRACT_RETENTION_YEARS), "contractRetentionYears"
            ),
            contract_signing_days=_count(_get(node, "contractSigningDays", DEFAULT_CONTRACT_SIGNING_DAYS), "contractSigningDays"),
            platform_legal_name=str(_get(node, "platformLegalName", "")).strip(),
            platform_org_number=str(_get(node, "platformOrgNumber", "")).strip(),
            docusign_auth_server=str(_get(node, "docusignAuthServer", DEFAULT_DOCUSIGN_AUTH_SERVER)).strip(),
            docusign_base_uri=str(_get(node, "docusignBaseUri", "")).strip(),
            api_base_url=str(_get(node, "apiBaseUrl", "")).strip() or None,
            payments=str(_get(node, "payments", DEFAULT_PAYMENTS)).strip(),
            stripe_tax=_boolean(_get(node, "stripeTax", True)),
            alarm_email=str(_get(node, "alarmEmail", "")).strip() or None,
            api_throttle_rate=_count(_get(node, "apiThrottleRate", DEFAULT_API_THROTTLE_RATE), "apiThrottleRate"),
            api_throttle_burst=_count(_get(node, "apiThrottleBurst", DEFAULT_API_THROTTLE_BURST), "apiThrottleBurst"),
            waf_public_rate_limit=_count(_get(node, "wafPublicRateLimit", DEFAULT_WAF_PUBLIC_RATE_LIMIT), "wafPublicRateLimit"),
            waf_rate_limit=_count(_get(node, "wafRateLimit", DEFAULT_WAF_RATE_LIMIT), "wafRateLimit"),
            search_instance_type=str(_get(node, "searchInstanceType", search_type)).strip(),
            search_data_nodes=_count(_get(node, "searchDataNodes", search_nodes), "searchDataNodes"),
            search_volume_gb=_count(_get(node, "searchVolumeGb", search_volume), "searchVolumeGb"),
            search_operator_role_arns=tuple(_string_list(_get(node, "searchOperatorRoleArns", []), "searchOperatorRoleArns")),
        )
        config.validate()
        return config

    def validate(self) -> None:
        if not self.web_origins:
            raise ConfigError("webOrigins must list at least one origin (the web front end's)")
        for origin in self.web_origins:
            parsed = urlparse(origin)
            # CORS compares exact origins: scheme://host[:port], nothing else.
            if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/") or origin.endswith("/"):
                raise ConfigError(f"webOrigins entry {origin!r} is not an origin such as https://app.example.com")
        if urlparse(self.web_base_url).scheme not in ("http", "https"):
            raise ConfigError("webBaseUrl must be an http(s) URL")
        if self.main_table_indexes is not None and self.main_table_indexes < FIRST_DEPLOYED_MAIN_TABLE_INDEXES:
            # Fewer would delete an index the deployed app queries.
            raise ConfigError(
                f"mainTableIndexes must be at least {FIRST_DEPLOYED_MAIN_TABLE_INDEXES} (gsi1 and gsi2 are in every deployment)"
            )
        if self.signature_provider not in SIGNATURE_PROVIDERS:
            raise ConfigError(f"signatureProvider must be one of {', '.join(SIGNATURE_PROVIDERS)}")
        if self.contract_retention_years < 1 or self.contract_signing_days < 1:
            raise ConfigError("contractRetentionYears and contractSigningDays must be at least 1")
        if self.api_base_url is not None and urlparse(self.api_base_url).scheme != "https":
            raise ConfigError("apiBaseUrl must be an https URL (the REST API's base URL, e.g. the ApiUrl output)")
        if self.docusign_base_uri and urlparse(self.docusign_base_uri).scheme != "https":
            raise ConfigError("docusignBaseUri must be an https URL (or empty: the app asks DocuSign's userinfo)")
        if "/" in self.docusign_auth_server or not self.docusign_auth_server:
            raise ConfigError("docusignAuthServer must be a host name such as account-d.docusign.com")
        if self.payments not in PAYMENTS_PROVIDERS:
            raise ConfigError(f"payments must be one of {', '.join(PAYMENTS_PROVIDERS)}; got {self.payments!r}")
        addresses = {"emailSender": self.email_sender, **({"alarmEmail": self.alarm_email} if self.alarm_email else {})}
        for key, address in addresses.items():
            local, _, domain = address.partition("@")
            if not local or "." not in domain:
                raise ConfigError(f"{key} must be an e-mail address")
        if self.api_throttle_rate < 1 or self.api_throttle_burst < 1:
            raise ConfigError("apiThrottleRate and apiThrottleBurst must be at least 1")
        if min(self.waf_public_rate_limit, self.waf_rate_limit) < WAF_MIN_RATE_LIMIT:
            raise ConfigError(f"wafPublicRateLimit and wafRateLimit must be at least {WAF_MIN_RATE_LIMIT} (requests per IP per 5 minutes)")
        if not self.search_instance_type.endswith(".search"):
            raise ConfigError(
                f"searchInstanceType must be an OpenSearch instance type such as t3.small.search; got {self.search_instance_type!r}"
            )
        # More than one node spreads over two availability zones, which takes an even count.
        if self.search_data_nodes < 1 or (self.search_data_nodes > 1 and self.search_data_nodes % 2):
            raise ConfigError("searchDataNodes must be 1 or an even number (two availability zones)")
        if self.search_volume_gb < MIN_SEARCH_VOLUME_GB:
            raise ConfigError(f"searchVolumeGb must be at least {MIN_SEARCH_VOLUME_GB}")
        for arn in self.search_operator_role_arns:
            if not IAM_ROLE_ARN.match(arn):
                raise ConfigError(f"searchOperatorRoleArns entry {arn!r} is not an IAM role ARN")
        if self.protected:
            # The dev defaults in cdk.json point at localhost: refuse to ship them to production.
            insecure = sorted({u for u in (*self.web_origins, self.web_base_url) if urlparse(u).scheme != "https"})
            if insecure:
                raise ConfigError(f"prod needs https origins and webBaseUrl; got {', '.join(insecure)}")
            if any(urlparse(u).hostname in ("localhost", "127.0.0.1") for u in (*self.web_origins, self.web_base_url)):
                raise ConfigError("prod must not allow localhost origins")
            # The offline Stripe keeps invoices and payouts in a Lambda container's memory: lost on every cold start.
            if self.payments != "stripe":
                raise ConfigError(f"prod needs payments=stripe (payments={self.payments!r} keeps its objects in memory)")
            # The platform is a party to every contract: its name and number are printed on them.
            if not self.platform_legal_name or self.platform_org_number in ("", PLACEHOLDER_ORG_NUMBER):
                raise ConfigError("prod needs platformLegalName and a real platformOrgNumber (printed on contracts)")


def _get(node: Any, key: str, default: Any) -> Any:
    value = node.try_get_context(key)
    return default if value is None else value


def _string_list(value: Any, key: str) -> list[str]:
    """A list from cdk.json, or from ``-c key=...`` as a JSON list or comma-separated text."""
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings")
    return [v.strip() for v in value]


def _optional_count(value: Any, key: str) -> int | None:
    """An integer from cdk.json, or from ``-c key=3`` (a string); absent or empty is None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{key} must be a whole number") from None


def _count(value: Any, key: str) -> int:
    """A whole number that has a default (absent never reaches here)."""
    count = _optional_count(value, key)
    if count is None:
        raise ConfigError(f"{key} must be a whole number")
    return count


def _boolean(value: Any) -> bool:
    # `-c key=false` arrives as the string "false".
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
