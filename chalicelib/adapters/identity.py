"""Amazon Cognito: user administration and login (boto3), and bearer-token verification (PyJWT).

Tokens are verified here, in one place, for local and deployed alike: RS256 signature against the
pool's JWKS, issuer, ``token_use`` = access, the app client id, and expiry. The JWKS URL is its own
setting because moto serves the keys locally while ``iss`` names the real AWS URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws_errors import aws_error_code
from chalicelib.domain.identity import Role
from chalicelib.errors import Conflict, FieldIssue, InvalidInput, Unauthenticated, UpstreamUnavailable
from chalicelib.services.ports import IdentityUser, Tokens, VerifiedToken

if TYPE_CHECKING:
    from jwt import PyJWKClient

_SIGN_IN_REFUSED = ("NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException", "PasswordResetRequiredException")


class CognitoIdentityGateway:
    def __init__(self, client: Any, user_pool_id: str, client_id: str) -> None:
        self._cognito = client
        self._pool = user_pool_id
        self._client_id = client_id

    def create_user(self, email: str, password: str, roles: Sequence[Role]) -> str:
        from botocore.exceptions import ClientError

        try:
            created = self._cognito.admin_create_user(
                UserPoolId=self._pool,
                Username=email,
                MessageAction="SUPPRESS",
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "false"}],
            )
        except ClientError as exc:
            if aws_error_code(exc) in ("UsernameExistsException", "AliasExistsException"):
                raise Conflict("This e-mail is already registered.") from exc
            if aws_error_code(exc) == "InvalidParameterException":
                raise InvalidInput("The e-mail address is not accepted.", issues=[FieldIssue("email", "not accepted")]) from exc
            raise UpstreamUnavailable("The identity service failed.") from exc
        try:
            self._cognito.admin_set_user_password(UserPoolId=self._pool, Username=email, Password=password, Permanent=True)
            for role in roles:
                self._cognito.admin_add_user_to_group(UserPoolId=self._pool, Username=email, GroupName=role.value)
        except BaseException as exc:
            self.delete_user(email)  # whatever failed, no half-made user stays behind
            if isinstance(exc, ClientError) and aws_error_code(exc) in ("InvalidPasswordException", "InvalidParameterException"):
                raise InvalidInput(
                    "The password does not meet the password policy.",
                    issues=[FieldIssue("password", "does not meet the password policy", "weak_password")],
                ) from exc
            if isinstance(exc, ClientError):
                raise UpstreamUnavailable("The identity service failed.") from exc
            raise
        attributes = {a["Name"]: a["Value"] for a in created["User"]["Attributes"]}
        return str(attributes["sub"])

    def delete_user(self, email: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._cognito.admin_delete_user(UserPoolId=self._pool, Username=email)
        except ClientError as exc:
            if aws_error_code(exc) != "UserNotFoundException":
                raise UpstreamUnavailable("The identity service failed.") from exc

    def find_user(self, email: str) -> IdentityUser | None:
        from botocore.exceptions import ClientError

        try:
            user = self._cognito.admin_get_user(UserPoolId=self._pool, Username=email)
        except ClientError as exc:
            if aws_error_code(exc) == "UserNotFoundException":
                return None
            raise UpstreamUnavailable("The identity service failed.") from exc
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        return IdentityUser(subject=str(attributes.get("sub", "")), created_at=user["UserCreateDate"])

    def mark_email_verified(self, email: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._cognito.admin_update_user_attributes(
                UserPoolId=self._pool, Username=email, UserAttributes=[{"Name": "email_verified", "Value": "true"}]
            )
        except ClientError as exc:
            raise UpstreamUnavailable("The identity service failed.") from exc

    def remove_from_group(self, email: str, role: Role) -> None:
        from botocore.exceptions import ClientError

        try:
            self._cognito.admin_remove_user_from_group(UserPoolId=self._pool, Username=email, GroupName=role.value)
        except ClientError as exc:
            raise UpstreamUnavailable("The identity service failed.") from exc

    def login(self, email: str, password: str) -> Tokens:
        return self._initiate_auth("USER_PASSWORD_AUTH", {"USERNAME": email, "PASSWORD": password}, "Wrong e-mail or password.")

    def refresh(self, refresh_token: str) -> Tokens:
        tokens = self._initiate_auth("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token}, "Sign in again.")
        # Cognito does not rotate the refresh token on this flow: the caller keeps the one it sent.
        return Tokens(tokens.id_token, tokens.access_token, tokens.refresh_token or refresh_token, tokens.expires_in)

    def _initiate_auth(self, flow: str, parameters: dict[str, str], refused: str) -> Tokens:
        from botocore.exceptions import ClientError

        try:
            result = self._cognito.initiate_auth(ClientId=self._client_id, AuthFlow=flow, AuthParameters=parameters)
        except ClientError as exc:
            if aws_error_code(exc) in _SIGN_IN_REFUSED:
                raise Unauthenticated(refused) from exc
            raise UpstreamUnavailable("The identity service failed.") from exc
        auth = result.get("AuthenticationResult")
        if not auth:
            raise Unauthenticated("Additional sign-in steps are required.")
        return Tokens(auth["IdToken"], auth["AccessToken"], auth.get("RefreshToken"), int(auth["ExpiresIn"]))


class JwtTokenVerifier:
    """Verifies Cognito access tokens. PyJWT (and cryptography) are imported on first use, not at cold start."""

    def __init__(self, jwks_url: str, issuer: str, client_id: str, *, leeway_seconds: int = 5) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._client_id = client_id
        self._leeway = leeway_seconds
        self._jwks: PyJWKClient | None = None

    def verify(self, token: str) -> VerifiedToken:
        import jwt

        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(self._jwks_url, cache_jwk_set=True, lifespan=3600, timeout=5)
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise UpstreamUnavailable("The identity keys could not be fetched.") from exc
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise Unauthenticated("The access token is invalid or expired.") from exc
        # Access tokens name the app client in `client_id` (they carry no `aud`).
        if claims.get("token_use") != "access" or claims.get("client_id") != self._client_id:
            raise Unauthenticated("The access token is invalid or expired.")
        roles = frozenset(Role(g) for g in claims.get("cognito:groups", []) if g in Role._value2member_map_)
        return VerifiedToken(subject=str(claims["sub"]), groups=roles)
