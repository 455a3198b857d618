"""The Cognito adapter and the token verifier against moto's user pool (real RS256 tokens, real JWKS)."""

from __future__ import annotations

import time

import jwt
import pytest

from chalicelib.adapters.identity import JwtTokenVerifier
from chalicelib.domain.identity import Role
from chalicelib.errors import Conflict, InvalidInput, Unauthenticated
from tests.builders import PASSWORD
from tests.conftest import LocalStack, unique_email

pytestmark = pytest.mark.integration


@pytest.fixture
def identity(local_aws: LocalStack):  # type: ignore[no-untyped-def]
    return local_aws.container.identity


@pytest.fixture
def verifier(local_aws: LocalStack) -> JwtTokenVerifier:
    return local_aws.container.token_verifier


def test_create_login_and_verify_a_user(identity, verifier: JwtTokenVerifier) -> None:  # type: ignore[no-untyped-def]
    email = unique_email()
    sub = identity.create_user(email, PASSWORD, [Role.CONSULTANT, Role.AGENCY_ADMIN])
    tokens = identity.login(email, PASSWORD)
    verified = verifier.verify(tokens.access_token)
    assert verified.subject == sub
    refreshed = identity.refresh(tokens.refresh_token)
    assert verifier.verify(refreshed.access_token).subject == sub and refreshed.refresh_token == tokens.refresh_token
    with pytest.raises(Unauthenticated):
        identity.refresh("not-a-refresh-token")
    assert verified.groups == {Role.CONSULTANT, Role.AGENCY_ADMIN}
    found = identity.find_user(email)
    assert found is not None and found.subject == sub
    identity.mark_email_verified(email)
    identity.remove_from_group(email, Role.AGENCY_ADMIN)
    assert verifier.verify(identity.login(email, PASSWORD).access_token).groups == {Role.CONSULTANT}


def test_duplicates_weak_passwords_and_wrong_passwords(identity) -> None:  # type: ignore[no-untyped-def]
    email = unique_email()
    identity.create_user(email, PASSWORD, [Role.CLIENT])
    with pytest.raises(Conflict):
        identity.create_user(email, PASSWORD, [Role.CLIENT])
    weak = unique_email()
    with pytest.raises(InvalidInput):
        identity.create_user(weak, "short", [Role.CLIENT])
    assert identity.find_user(weak) is None  # the half-created user was removed
    with pytest.raises(Unauthenticated):
        identity.login(email, PASSWORD + "x")
    with pytest.raises(Unauthenticated):
        identity.login(unique_email(), PASSWORD)
    identity.delete_user(email)
    identity.delete_user(email)  # deleting twice is fine (compensation may repeat)
    assert identity.find_user(email) is None


def test_the_verifier_refuses_id_tokens_forged_tokens_and_other_clients(
    identity, verifier: JwtTokenVerifier, local_aws: LocalStack
) -> None:  # type: ignore[no-untyped-def]
    email = unique_email()
    identity.create_user(email, PASSWORD, [Role.CLIENT])
    tokens = identity.login(email, PASSWORD)
    with pytest.raises(Unauthenticated):
        verifier.verify(tokens.id_token)  # token_use is "id"
    header, payload, signature = tokens.access_token.split(".")
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.{payload}.{signature[:-4]}AAAA")
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    from cryptography.hazmat.primitives.asymmetric import rsa

    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(tokens.access_token)["kid"]
    forged = jwt.encode({**claims, "cognito:groups": ["staff"]}, own_key, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(Unauthenticated):
        verifier.verify(forged)
    settings = local_aws.container.settings
    other_client = JwtTokenVerifier(settings.resolved_jwks_url, settings.issuer, "another-client")
    with pytest.raises(Unauthenticated):
        other_client.verify(tokens.access_token)
    other_issuer = JwtTokenVerifier(settings.resolved_jwks_url, settings.issuer + "x", settings.user_pool_client_id)
    with pytest.raises(Unauthenticated):
        other_issuer.verify(tokens.access_token)
    for garbage in ("", "not.a.jwt", "a.b"):
        with pytest.raises(Unauthenticated):
            verifier.verify(garbage)


def test_expired_tokens_are_refused(identity, local_aws: LocalStack) -> None:  # type: ignore[no-untyped-def]
    email = unique_email()
    identity.create_user(email, PASSWORD, [Role.CLIENT])
    token = identity.login(email, PASSWORD).access_token
    settings = local_aws.container.settings
    strict = JwtTokenVerifier(settings.resolved_jwks_url, settings.issuer, settings.user_pool_client_id, leeway_seconds=-3700)
    assert jwt.decode(token, options={"verify_signature": False})["exp"] > time.time()
    with pytest.raises(Unauthenticated):
        strict.verify(token)  # a negative leeway makes a one-hour token count as expired
