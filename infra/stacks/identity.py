"""Who the users are and who the platform mails as: the Cognito user pool and the SES sender identity.

Mirrors ``chalicelib/local/bootstrap.py`` (``_ensure_user_pool``): accounts are created by the API with
admin calls (``Username`` = the e-mail address), groups are the app's roles, and the web client logs in
with USER_PASSWORD_AUTH and refreshes tokens. The app verifies tokens itself against the pool's JWKS,
which it derives from the issuer, so no authorizer is configured on API Gateway.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ses as ses
from constructs import Construct

from chalicelib.domain.identity import Role
from stacks.config import StageConfig

MIN_PASSWORD_LENGTH = 12  # the app's own rule (chalicelib/schemas/base.py: Password)


class IdentityStack(cdk.Stack):
    user_pool: cognito.UserPool
    user_pool_client: cognito.UserPoolClient
    email_identity: ses.EmailIdentity
    group_names: tuple[str, ...]

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        composition = config.password_requires_character_classes

        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=config.name("users"),
            # Registration goes through the API (consent capture, uniqueness claims) and then
            # AdminCreateUser; a public SignUp would bypass all of that.
            self_sign_up_enabled=False,
            # The app passes the e-mail address as the Username; making `email` a username attribute
            # would turn Username into a generated id and break AdminGetUser(Username=email).
            sign_in_aliases=cognito.SignInAliases(username=True),
            sign_in_case_sensitive=False,
            standard_attributes=cognito.StandardAttributes(email=cognito.StandardAttribute(required=True, mutable=True)),
            password_policy=cognito.PasswordPolicy(
                min_length=MIN_PASSWORD_LENGTH,
                require_uppercase=composition,
                require_lowercase=composition,
                require_digits=composition,
                require_symbols=composition,
                temp_password_validity=cdk.Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # The login flow (InitiateAuth USER_PASSWORD_AUTH) does not answer challenges: an MFA
            # challenge would lock every user out ("additional sign-in steps are required").
            mfa=cognito.Mfa.OFF,
            # Nothing here needs the Essentials/Plus features (managed login, threat protection).
            feature_plan=cognito.FeaturePlan.LITE,
            deletion_protection=config.protected,
            removal_policy=config.removal_policy,
        )

        # One group per role the app checks in the token's `cognito:groups` claim. Taken from the app's
        # own enum so that a new role cannot be forgotten here.
        self.group_names = tuple(role.value for role in Role)
        for name in self.group_names:
            cognito.CfnUserPoolGroup(self, f"Group-{name}", user_pool_id=self.user_pool.user_pool_id, group_name=name)

        self.user_pool_client = self.user_pool.add_client(
            "WebClient",
            user_pool_client_name=config.name("web"),
            # A browser cannot keep a secret, and the API calls InitiateAuth without SECRET_HASH.
            generate_secret=False,
            # CDK always adds ALLOW_REFRESH_TOKEN_AUTH.
            auth_flows=cognito.AuthFlow(user_password=True),
            # No hosted UI / OAuth: CDK's defaults would otherwise enable the implicit grant with a
            # placeholder callback URL.
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=cdk.Duration.hours(1),
            id_token_validity=cdk.Duration.hours(1),
            refresh_token_validity=cdk.Duration.days(30),
        )

        # SES sends a verification mail to this address on creation; sending works once it is clicked
        # (and, while the account is in the SES sandbox, only to verified recipients).
        self.email_identity = ses.EmailIdentity(self, "SenderIdentity", identity=ses.Identity.email(config.email_sender))

        cdk.CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        cdk.CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)
        cdk.CfnOutput(self, "EmailSender", value=config.email_sender)
