"""Bearer JWT verification (PyJWT) and the principal it yields.

Each algorithm is tied to its own key: HS256 only with the shared secret, RS256
only with the public key or JWKS. `alg: none` and algorithm confusion (an RS256
public key used as an HMAC secret) are refused because the algorithm list passed
to PyJWT always has exactly the one algorithm its key belongs to.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import jwt

from services.common.errors import DomainError, ErrorCode
from services.platform.config import Settings

USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@|-]{0,127}$")


class Role(StrEnum):
    ADMIN = "admin"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[Role]
    expires_at: float | None = None  # the token's `exp` (seconds since the epoch)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_service(self) -> bool:
        return Role.SERVICE in self.roles

    @property
    def acts_for_anyone(self) -> bool:
        """Another service or an admin: may read and count for any user."""
        return self.is_admin or self.is_service

    def may_read(self, user_id: str) -> bool:
        return user_id == self.user_id or self.acts_for_anyone


ROLE_NAMES = frozenset(role.value for role in Role)


class AuthError(Exception):
    """The token is missing, malformed, forged, expired or for someone else."""


def is_valid_user_id(user_id: str) -> bool:
    return bool(USER_ID_PATTERN.match(user_id))


def check_user_id(user_id: str, field: str = "userId") -> str:
    """A user id named as an argument is held to what a token's `sub` must be."""
    if not is_valid_user_id(user_id):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "a user id is 1 to 128 letters, digits or '_.:@|-', starting with a letter or digit",
            field,
        )
    return user_id


class TokenVerifier:
    """Verifies each distinct token once: a client sends the same token on every
    request, so the signature check is remembered until the token expires."""

    CACHE_SIZE = 10_000

    def __init__(self, settings: Settings) -> None:
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._secret = settings.hs256_secret
        self._public_key = settings.jwt_public_key
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def _key_for(self, token: str) -> tuple[object, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token: malformed") from exc
        alg = header.get("alg")
        if alg == "HS256" and self._secret is not None:
            return self._secret, alg
        if alg == "RS256" and self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key, alg
            except jwt.PyJWTError as exc:
                raise AuthError("invalid token: unknown signing key") from exc
        if alg == "RS256" and self._public_key is not None:
            return self._public_key, alg
        raise AuthError(f"invalid token: algorithm {alg!r} is not accepted")

    def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and known[0] > time.time():
            return known[1]
        principal, expires = self._verify(token)
        self._verified[token] = (expires, principal)
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        key, alg = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not is_valid_user_id(subject):
            raise AuthError("invalid token: the subject is not a valid user id")
        raw_roles = claims.get("roles", [])
        if not isinstance(raw_roles, list):
            raise AuthError("invalid token: the roles claim must be a list of strings")
        if not all(isinstance(role, str) for role in raw_roles):
            raise AuthError("invalid token: the roles claim must be a list of strings")
        roles = frozenset(Role(r) for r in raw_roles if r in ROLE_NAMES)
        expires = float(claims["exp"])
        return Principal(user_id=subject, roles=roles, expires_at=expires), expires

    def verify_header(self, authorization: str | None) -> Principal | None:
        """None when there is no Authorization header; AuthError when it is bad."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("invalid token: expected 'Authorization: Bearer <token>'")
        return self.verify(token.strip())


def mint_token(
    settings: Settings,
    user_id: str,
    roles: list[Role],
    now: datetime,
    ttl: timedelta | None = None,
) -> str:
    """A development HS256 token (the `token` command and the tests)."""
    secret = settings.hs256_secret
    if secret is None:
        raise AuthError("no JWT_SECRET configured to sign with")
    if not is_valid_user_id(user_id):
        raise AuthError(f"invalid user id {user_id!r}")
    lifetime = ttl or timedelta(seconds=settings.dev_token_ttl_seconds)
    claims = {
        "sub": user_id,
        "roles": [r.value for r in roles],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


DEVELOPMENT_TOKEN_TTL = timedelta(hours=8)


def development_token(
    settings: Settings, user_id: str, admin: bool, now: datetime
) -> tuple[str, datetime]:
    """The console's and portal's "sign in as" (development only): a token for anyone."""
    if settings.is_production:
        raise DomainError(
            ErrorCode.NOT_IN_PRODUCTION, "development sign-in is off in production", "userId"
        )
    roles = [Role.ADMIN] if admin else []
    try:
        token = mint_token(settings, user_id, roles, now, DEVELOPMENT_TOKEN_TTL)
    except AuthError as error:
        raise DomainError(ErrorCode.INVALID_INPUT, str(error), "userId") from error
    return token, now + DEVELOPMENT_TOKEN_TTL
