"""A person completing a login on the terminal: app approvals waited for, codes and tokens
asked without echo, a TAN medium chosen from the bank's list.

Used by `wealth accounts test`, `wealth accounts auth` (sync now) and `wealth accounts
backfill`. Everything typed is remembered in `entered`, so messages can be scrubbed of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from wealth_pipeline.brokers.base import AuthResult, BrokerIntegrationBase

CODE_PROMPTS = {
    "totp": "Code from your authenticator app",
    "sms": "Code from the SMS",
    "tan": "TAN",
    "phototan": "TAN (from the photoTAN image)",
    "flicker": "TAN (from your TAN generator)",
    "token": "Fresh session token (paste it; it is not shown)",
}
CHOICE = "tan_medium"  # a choice among the options the service lists, not a secret code
MAX_CODE_ROUNDS = 3  # codes asked before giving up (banks lock after a few wrong TANs)


class SecondFactor:
    """Completes a login that needs a person: waits for an app approval, asks for a code or
    a token, or lets the person choose among the service's options (a TAN medium).

    Codes are read without echo (a TAN is no password, but still nobody's business) and
    remembered in `entered` so they can be scrubbed from messages.
    """

    def __init__(
        self, integration: BrokerIntegrationBase, wait_seconds: float, poll_seconds: float
    ) -> None:
        self.integration = integration
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.entered: list[str] = []

    @classmethod
    def for_integration(cls, integration: BrokerIntegrationBase) -> SecondFactor:
        context = integration.context
        return cls(integration, context.two_fa_wait_seconds, context.poll_interval_seconds)

    def scrub(self, text: str) -> str:
        from wealth_pipeline.brokers.redact import scrub

        return scrub(self.integration.scrub(text), self.entered)

    def complete(self, auth: AuthResult) -> AuthResult:
        from wealth_pipeline.brokers.base import AuthenticationFailed

        rounds = 0
        while auth.requires_2fa and not auth.success:
            self.show_challenge(auth)
            if auth.two_fa_type == "app":
                auth = self.wait_for_approval(auth)
                continue
            if auth.two_fa_type == CHOICE:
                auth = self.integration.complete_2fa(self.choose(auth), auth.session_data)
                continue
            if rounds == MAX_CODE_ROUNDS:
                raise AuthenticationFailed(
                    f"{MAX_CODE_ROUNDS} codes were not accepted; stopping before the bank "
                    "locks the login"
                )
            rounds += 1
            prompt = CODE_PROMPTS.get(auth.two_fa_type or "", "Code")
            code = click.prompt(prompt, hide_input=True).strip()
            self.entered.append(code)
            auth = self.integration.complete_2fa(code, auth.session_data)
        if not auth.success:
            raise AuthenticationFailed(self.scrub(auth.error_message or "login refused"))
        return auth

    def choose(self, auth: AuthResult) -> str:
        """One of the options the service listed (the only one is taken without asking)."""
        from wealth_pipeline.brokers.base import MalformedAnswer

        options = [str(o) for o in (auth.challenge_data or {}).get("options") or []]
        if not options:
            raise MalformedAnswer(f"{self.integration.broker.name} listed nothing to choose from")
        if len(options) == 1:
            click.echo(f"Using {options[0]}, the only one {self.integration.broker.name} lists.")
            return options[0]
        for number, option in enumerate(options, start=1):
            click.echo(f"  {number}. {option}")
        number = click.prompt(
            "Which one (number)", type=click.IntRange(1, len(options)), show_default=False
        )
        return options[number - 1]

    def wait_for_approval(self, auth: AuthResult) -> AuthResult:
        """Poll until the app approval arrives or the configured wait is over."""
        import time

        from wealth_pipeline.brokers.base import TwoFactorRequired

        name = self.integration.broker.name
        click.echo(
            f"Approve the login in your {name} app (waiting up to "
            f"{self.wait_seconds:g} seconds) ..."
        )
        deadline = time.monotonic() + self.wait_seconds
        while True:
            auth = self.integration.complete_2fa(None, auth.session_data)
            if auth.success or not auth.requires_2fa or auth.two_fa_type != "app":
                return auth
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TwoFactorRequired(
                    f"the login was not approved in the {name} app within "
                    f"{self.wait_seconds:g} seconds; run the command again and approve it",
                    auth,
                )
            time.sleep(min(self.poll_seconds, remaining))

    def show_challenge(self, auth: AuthResult) -> None:
        challenge = auth.challenge_data or {}
        text = challenge.get("text") or challenge.get("challenge")
        if isinstance(text, str) and text.strip():
            click.echo(self.scrub(text.strip()))
        if isinstance(challenge.get("image"), str) and auth.two_fa_type != "app":
            click.echo(f"The challenge image is in {save_challenge_image(challenge['image'])}.")


def save_challenge_image(encoded: str) -> str:
    """Write a base64 photoTAN image to a private temporary file; its path."""
    import base64
    import os
    import tempfile

    try:
        data = base64.b64decode(encoded, validate=False)
    except ValueError:
        raise click.ClickException("the bank sent a challenge image that cannot be read") from None
    handle, path = tempfile.mkstemp(prefix="wealth-tan-", suffix=".png")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return path


def run_with_second_factor(step: Callable[[], Any], second: SecondFactor) -> Any:
    """`step()`, completing a second factor once if the service asks for one midway."""
    from wealth_pipeline.brokers.base import TwoFactorRequired

    try:
        return step()
    except TwoFactorRequired as exc:
        name = second.integration.broker.name
        click.echo(f"{name} asks for a second factor: {second.scrub(str(exc))}")
        second.complete(exc.auth)
        return step()


def login(integration: BrokerIntegrationBase, second: SecondFactor) -> None:
    """A fresh login, completing whatever second factor the service asks for."""
    from wealth_pipeline.brokers.base import AuthenticationFailed, TwoFactorRequired

    try:
        auth = integration.authenticate()
    except TwoFactorRequired as exc:
        click.echo(f"{integration.broker.name} asks for a second factor: {second.scrub(str(exc))}")
        auth = exc.auth
    if auth.requires_2fa and not auth.success:
        auth = second.complete(auth)
    if not auth.success:
        raise AuthenticationFailed(second.scrub(auth.error_message or "login refused"))
    click.echo("Login: ok")


def interactive_login(integration: BrokerIntegrationBase) -> None:
    """`login` with a `SecondFactor` of the integration's own waiting times."""
    login(integration, SecondFactor.for_integration(integration))
