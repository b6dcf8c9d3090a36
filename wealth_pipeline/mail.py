"""Outgoing e-mail: the weekly report and "your bank wants an approval" notices.

With an SMTP server configured (`WEALTH_SMTP_HOST`) messages go there, over STARTTLS, implicit
TLS or plain SMTP on a trusted local relay; without one (the embedded default) each message is
written as an `.eml` file to the outbox folder, so a person can open it in a mail program.
The SMTP password is read from the environment when sending, so it never sits in Dagster's
resource configuration, run config or metadata.
"""

from __future__ import annotations

import os
import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path

from wealth_pipeline.files import create_private_file, private_folder
from wealth_pipeline.http import tls_context
from wealth_pipeline.settings import Settings


class MailError(Exception):
    """A message that could not be delivered; the message says why (never a password)."""


class RecipientRefused(MailError):
    """The server refused the recipient: other recipients are unaffected."""


@dataclass(frozen=True)
class Delivery:
    transport: str  # "smtp" or "outbox"
    message_id: str
    detail: str  # the server's answer or the .eml file's path


def valid_address(address: str | None) -> bool:
    """A plausible single address (the server decides the rest)."""
    if not address:
        return False
    _, parsed = parseaddr(address)
    return (
        bool(re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", parsed)) and parsed == address.strip()
    )


class Mailer:
    """Sends through SMTP when a host is configured, else writes to the outbox folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def transport(self) -> str:
        return "smtp" if self.settings.smtp_host else "outbox"

    def new_message(self, to: str, subject: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        domain = parseaddr(self.settings.mail_from)[1].rpartition("@")[2] or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
        return message

    @contextmanager
    def session(self) -> Iterator[MailSession]:
        """One connection for many messages (one login per batch, not per message)."""
        if not self.settings.smtp_host:
            yield OutboxSession(self.settings.outbox_dir)
            return
        client = self._connect()
        try:
            yield SmtpSession(client)
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()

    def send(self, message: EmailMessage) -> Delivery:
        with self.session() as session:
            return session.send(message)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.smtp_host
        where = f"{s.smtp_host}:{s.smtp_port}"
        try:
            if s.smtp_security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=tls_context()
                )
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
                if s.smtp_security == "starttls":
                    client.starttls(context=tls_context())
            if s.smtp_user:
                client.login(s.smtp_user, os.environ.get("WEALTH_SMTP_PASSWORD", ""))
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"the SMTP server {where} refused the login of {s.smtp_user!r} ({exc.smtp_code})"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"cannot reach the SMTP server {where}: {_reason(exc)}") from None
        return client


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class MailSession:
    def send(self, message: EmailMessage) -> Delivery:  # pragma: no cover - interface
        raise NotImplementedError


class SmtpSession(MailSession):
    def __init__(self, client: smtplib.SMTP) -> None:
        self.client = client

    def send(self, message: EmailMessage) -> Delivery:
        to = message["To"]
        try:
            refused = self.client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise RecipientRefused(f"the server refused {to}: {code} {_text(text)}") from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"the server did not accept the message to {to}: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"sending to {to} failed: {_reason(exc)}") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise RecipientRefused(f"the server refused {to}: {code} {_text(text)}")
        return Delivery("smtp", message["Message-ID"], "accepted")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class OutboxSession(MailSession):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> Delivery:
        private_folder(self.folder)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        recipient = re.sub(r"[^A-Za-z0-9@._-]", "_", parseaddr(message["To"])[1])
        path = self.folder / f"{stamp}-{recipient}-{make_msgid().strip('<>').split('@')[0]}.eml"
        if not create_private_file(path, bytes(message)):  # 0600: the report's figures
            raise MailError(f"{path} exists already")
        return Delivery("outbox", message["Message-ID"], str(path))
