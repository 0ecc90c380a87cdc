"""JWT verification: what is accepted and every way a token is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.platform.auth import AuthError, Role, TokenVerifier, mint_token
from services.platform.config import Settings

NOW = datetime.now(UTC)


def _claims(**overrides):
    claims = {
        "sub": "alice",
        "roles": ["admin"],
        "iss": "subscription-service",
        "aud": "subscription-service",
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
    }
    return {**claims, **overrides}


@pytest.fixture(scope="module")
def rsa_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def test_a_minted_development_token_verifies_with_its_roles():
    settings = Settings()
    token = mint_token(settings, "alice", [Role.ADMIN, Role.SERVICE], NOW)
    principal = TokenVerifier(settings).verify(token)
    assert principal.user_id == "alice"
    assert principal.is_admin and principal.is_service


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=int((NOW - timedelta(minutes=1)).timestamp())), "expired"),
        (_claims(iss="someone-else"), "issuer"),
        (_claims(aud="another-service"), "audience"),
        (_claims(sub="bad user id with spaces"), "subject"),
        (_claims(roles="admin"), "roles"),
        (_claims(roles=[["admin"]]), "roles"),
        (_claims(roles=[{"name": "admin"}]), "roles"),
        (_claims(roles={"admin": True}), "roles"),
    ],
)
def test_bad_claims_are_refused(claims, reason):
    settings = Settings()
    token = jwt.encode(claims, settings.hs256_secret, algorithm="HS256")
    with pytest.raises(AuthError) as refused:
        TokenVerifier(settings).verify(token)
    message = str(refused.value)
    assert reason in message.lower()
    assert message.count("invalid token") <= 1  # said once, never "invalid token: invalid token"


def test_a_forged_signature_is_refused():
    token = jwt.encode(_claims(), "x" * 40, algorithm="HS256")
    with pytest.raises(AuthError):
        TokenVerifier(Settings()).verify(token)


def test_alg_none_is_refused():
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode())
    token = f"{header.decode().rstrip('=')}.{body.decode().rstrip('=')}."
    with pytest.raises(AuthError, match="not accepted"):
        TokenVerifier(Settings()).verify(token)


def test_rs256_with_the_public_key(rsa_keys):
    private, public = rsa_keys
    settings = Settings(jwt_public_key=public)
    token = jwt.encode(_claims(), private, algorithm="RS256")
    assert TokenVerifier(settings).verify(token).user_id == "alice"


def test_algorithm_confusion_public_key_as_hmac_secret_is_refused(rsa_keys):
    _, public = rsa_keys
    settings = Settings(jwt_public_key=public, environment="production", jwt_secret=None)
    # An attacker signs HS256 with the public key text; HS256 is off without a secret.
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode()).decode().rstrip("=")
    signature = hmac.new(public.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"
    with pytest.raises(AuthError):
        TokenVerifier(settings).verify(token)


def test_malformed_header_values_are_refused():
    verifier = TokenVerifier(Settings())
    assert verifier.verify_header(None) is None
    for header in ("Basic abc", "Bearer", "Bearer not.a.jwt"):
        with pytest.raises(AuthError):
            verifier.verify_header(header)


def test_production_refuses_the_development_secret():
    from services.platform.config import DEV_JWT_SECRET

    with pytest.raises(ValueError, match="development JWT secret"):
        Settings(environment="production", jwt_secret=DEV_JWT_SECRET)
    with pytest.raises(ValueError, match="needs JWT_SECRET"):
        Settings(environment="production")
    with pytest.raises(ValueError, match="TEST_CLOCK"):
        Settings(environment="production", jwt_secret="s" * 40, test_clock=True)


def test_a_verified_token_is_remembered_only_until_it_expires(monkeypatch):
    import time as clock

    settings = Settings()
    verifier = TokenVerifier(settings)
    checks = []
    original = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda token: checks.append(token) or original(token))
    token = mint_token(settings, "alice", [], datetime.now(UTC), timedelta(seconds=60))
    assert verifier.verify(token).user_id == "alice"
    assert verifier.verify(token).user_id == "alice"
    assert len(checks) == 1  # the second answer came from memory
    later = clock.time() + 120
    monkeypatch.setattr("services.platform.auth.time.time", lambda: later)
    verifier.verify(token)  # past its exp: checked again (PyJWT decides, on its own clock)
    assert len(checks) == 2


def test_development_sign_in_is_refused_in_production():
    from datetime import UTC, datetime

    import pytest

    from services.common.errors import DomainError, ErrorCode
    from services.platform.auth import TokenVerifier, development_token
    from services.platform.config import Settings

    now = datetime.now(UTC)
    production = Settings(environment="production", jwt_secret="p" * 40)
    with pytest.raises(DomainError) as refused:
        development_token(production, "alice", True, now)
    assert refused.value.code is ErrorCode.NOT_IN_PRODUCTION
    development = Settings()
    token, expires = development_token(development, "root", True, now)
    principal = TokenVerifier(development).verify_header(f"Bearer {token}")
    assert principal.user_id == "root" and principal.is_admin and expires > now
    with pytest.raises(DomainError) as bad:
        development_token(development, "", False, now)
    assert bad.value.code is ErrorCode.INVALID_INPUT
