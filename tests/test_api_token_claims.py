"""The token module's claim checks (security.md's attack list, RFC 8725), as unit tests of
`Tokens.decode` and `Tokens.rotate`: no database and no HTTP round trip is needed to refuse
a token. That a refused token answers 401 with `WWW-Authenticate: Bearer` and never echoes
the token is tested over HTTP in tests/test_api_tokens.py."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from wealth_pipeline.api.tokens import ACCESS, REFRESH, Claims, TokenError, Tokens

KEY = "test-only signing key, 48 bytes long...........!"
USER_ID = 7


@pytest.fixture
def tokens() -> Tokens:
    return Tokens(KEY.encode(), access_minutes=10, refresh_days=14)


def claims_for(kind: str = ACCESS, **overrides: Any) -> dict:
    """Valid claims of `kind` issued now; an override of None leaves the claim out."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "wealth-pipeline",
        "aud": "wealth-pipeline-api",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "sub": str(USER_ID),
        "typ": kind,
        "ver": 1,
    }
    if kind == REFRESH:
        claims.update(jti="a" * 32, fam="b" * 32)
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def forge(
    kind: str = ACCESS,
    key: str = KEY,
    algorithm: str = "HS256",
    header_type: str | None = None,
    **overrides: Any,
) -> str:
    """A token signed with `key`: only what the arguments change is unusual."""
    claims = claims_for(kind, **overrides)
    header_type = header_type or {"access": "at+jwt", "refresh": "rt+jwt"}.get(claims.get("typ"))
    headers = {"typ": header_type} if header_type else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def refused(tokens: Tokens, token: str, kind: str = ACCESS) -> TokenError:
    with pytest.raises(TokenError) as refusal:
        tokens.decode(token, kind)
    assert token not in str(refusal.value)  # the message is safe to show
    return refusal.value


class NoQueries:
    """A connection that fails the test at its first query."""

    def execute(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a refused token reached the database")


def test_a_correctly_forged_token_is_accepted(tokens: Tokens) -> None:
    """The control for the cases below: only the one thing each changes is wrong."""
    claims = tokens.decode(forge(), ACCESS)
    assert (claims.user_id, claims.version, claims.type) == (USER_ID, 1, ACCESS)
    refresh = tokens.decode(forge(REFRESH), REFRESH)
    assert (refresh.jti, refresh.family) == ("a" * 32, "b" * 32)
    issued = tokens.access_token(USER_ID, 3)
    assert tokens.decode(issued, ACCESS) == Claims(
        USER_ID, 3, ACCESS, jwt.decode(issued, options={"verify_signature": False})["iat"]
    )


@pytest.mark.parametrize(
    "overrides",
    [
        # Times relative to when the test runs (never to when it was collected).
        pytest.param({"exp": -60, "iat": -400}, id="expired"),
        pytest.param({"nbf": 120}, id="not-yet-valid-nbf"),
        pytest.param({"iat": 120}, id="issued-in-the-future"),
        pytest.param({"aud": "someone-else"}, id="wrong-aud"),
        pytest.param({"iss": "evil"}, id="wrong-iss"),
        pytest.param({"typ": "refresh"}, id="refresh-as-access"),
        pytest.param({"sub": "alice"}, id="sub-not-an-id"),
        pytest.param({"ver": "1"}, id="ver-not-a-number"),
        *[
            pytest.param({claim: None}, id=f"missing-{claim}")
            for claim in ("exp", "iat", "nbf", "sub", "typ", "iss", "aud", "ver")
        ],
    ],
)
def test_forged_claims_are_refused(tokens: Tokens, overrides: dict) -> None:
    now = int(time.time())
    times = {
        claim: now + offset
        for claim, offset in overrides.items()
        if claim in ("exp", "iat", "nbf") and isinstance(offset, int)
    }
    refused(tokens, forge(**{**overrides, **times}))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_bad_signature_and_other_algorithms_are_refused(tokens: Tokens) -> None:
    refused(tokens, forge(key="another key that is long enough to be used!!"))
    refused(tokens, forge(algorithm="HS512"))
    refused(tokens, forge(algorithm="HS384"))
    header = segment({"alg": "none", "typ": "JWT"})
    refused(tokens, f"{header}.{segment(claims_for())}.")
    refused(tokens, f"{header}.{segment(claims_for())}")


@pytest.mark.parametrize(
    ("header_type", "claimed"),
    [("JWT", "access"), ("rt+jwt", "access"), ("at+jwt", "refresh"), ("at+jwt ", "access")],
)
def test_the_header_type_must_name_the_kind_of_token(
    tokens: Tokens, header_type: str, claimed: str
) -> None:
    """Explicit typing (RFC 8725 3.11): a JWT of another kind made with the same key, or a
    refresh token's header on access claims, is refused."""
    refused(tokens, forge(header_type=header_type, typ=claimed))


def test_a_token_without_a_header_type_is_refused(tokens: Tokens) -> None:
    untyped = jwt.encode(claims_for(), KEY, algorithm="HS256", headers={"typ": None})
    assert "typ" not in jwt.get_unverified_header(untyped)
    refused(tokens, untyped)


def test_tampered_payload_is_refused(tokens: Tokens) -> None:
    header, _, signature = tokens.access_token(USER_ID, 1).split(".")
    tampered = segment(claims_for(sub=str(USER_ID + 1)))
    refused(tokens, f"{header}.{tampered}.{signature}")


def test_each_kind_is_refused_as_the_other(tokens: Tokens) -> None:
    assert str(refused(tokens, forge(), REFRESH)) == "not a refresh token"
    assert str(refused(tokens, forge(REFRESH), ACCESS)) == "not an access token"


@pytest.mark.parametrize("subject", [str(2**31), str(2**63), str(2**64), "0"])
def test_a_signed_token_whose_subject_is_out_of_range_is_refused(
    tokens: Tokens, subject: str
) -> None:
    """Refused before any query (2**63 overflows SQLite, 2**31 PostgreSQL's integer)."""
    refused(tokens, forge(sub=subject))
    with pytest.raises(TokenError):
        tokens.rotate(NoQueries(), forge(REFRESH, sub=subject))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_times_are_numbers_not_numeric_strings(tokens: Tokens, claim: str) -> None:
    """RFC 7519's NumericDate: PyJWT alone takes "exp": "1999999999"."""
    now = int(time.time())
    value = {"exp": now + 300, "iat": now, "nbf": now}[claim]
    assert tokens.decode(forge(**{claim: value}), ACCESS).user_id == USER_ID  # the control
    refused(tokens, forge(**{claim: str(value)}))


def test_a_refresh_token_with_odd_ids_is_refused_without_a_query(tokens: Tokens) -> None:
    for jti in ("\x00" * 32, "x" * 1000, 7):
        token = forge(REFRESH, jti=jti)
        refused(tokens, token, REFRESH)
        with pytest.raises(TokenError):
            tokens.rotate(NoQueries(), token)
        with pytest.raises(TokenError):
            tokens.revoke(NoQueries(), token)
