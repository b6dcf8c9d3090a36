"""Logging in to the API as every client does: the password never leaves this machine.

The client fetches the user's salts, derives `auth_hash = Argon2id(password, auth_salt)` with
the parameters the server names and sends it base64 (`POST /api/auth/login/`). Used by
`wealth api token`; the README's Python example does the same steps.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from wealth_pipeline.security.kdf import KdfParams, derive_auth_hash


class LoginFailed(RuntimeError):
    """The API could not be reached or refused the login; `str()` says which and why."""


def login(
    client: httpx.Client, username: str, password: str, *, wait_seconds: float = 0
) -> dict[str, Any]:
    """The login answer (`access`, `refresh`, `expires_in`, ...) for `username`.

    `wait_seconds`: how long to keep asking while nothing listens yet (an API just started
    with `wealth api &` takes a moment to come up).
    """
    where = str(client.base_url).rstrip("/")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                salts = client.get("/api/auth/salt/", params={"username": username})
                break
            except httpx.ConnectError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)
        _check(salts, where)
        answer = salts.json()
        auth_hash = derive_auth_hash(
            password, bytes.fromhex(answer["auth_salt"]), KdfParams.from_json(answer["kdf_params"])
        )
        tokens = client.post(
            "/api/auth/login/",
            json={"username": username, "auth_hash": base64.b64encode(auth_hash).decode()},
        )
        _check(tokens, where)
        return tokens.json()
    except httpx.TransportError as exc:
        raise LoginFailed(
            f"no API answers at {where} ({type(exc).__name__}): start it with `wealth api` "
            "(or pass --url)"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise LoginFailed(f"{where} does not answer like the wealth-pipeline API") from None


def _check(response: httpx.Response, where: str) -> None:
    if response.status_code == 200:
        return
    if response.status_code == 401:
        raise LoginFailed("the API refused the login: wrong username or password")
    if response.status_code in (429, 503):
        wait = response.headers.get("Retry-After", "a few")
        raise LoginFailed(f"the API asks to wait ({_detail(response)}): retry in {wait} s")
    raise LoginFailed(f"{where} answered HTTP {response.status_code}: {_detail(response)}")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return detail if isinstance(detail, str) else response.reason_phrase
