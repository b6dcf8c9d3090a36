"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives.

Recipients whose address starts with `refuse` are refused with 550, as a real server refuses
an unknown mailbox; everything else is accepted and parsed back into `EmailMessage`s.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.fakes.server import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _Handler:
    def __init__(self, server: FakeSmtp) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.server.lock:
            self.server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"


class FakeSmtp:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=free_port())

    def start(self) -> FakeSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    def reset(self) -> None:
        with self.lock:
            self.received.clear()

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]

    def environment(self) -> dict[str, str]:
        """The settings that send mail here (plain SMTP: a trusted local relay)."""
        return {
            "WEALTH_SMTP_HOST": "127.0.0.1",
            "WEALTH_SMTP_PORT": str(self.port),
            "WEALTH_SMTP_SECURITY": "none",
        }
