"""Outgoing mail: a real SMTP server, refused recipients, and the outbox without a server."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.support.fakes.smtp import FakeSmtp
from wealth_pipeline.mail import Mailer, MailError, RecipientRefused, valid_address
from wealth_pipeline.settings import load_settings


def test_sends_through_smtp_and_the_server_receives_it(smtp: FakeSmtp) -> None:
    mailer = Mailer(load_settings())
    message = mailer.new_message("alice@example.org", "Hello")
    message.set_content("Your wealth, exactly.")
    delivery = mailer.send(message)
    assert delivery.transport == "smtp"
    [received] = smtp.messages()
    assert received["To"] == "alice@example.org"
    assert received["Message-ID"] == delivery.message_id
    assert received.get_content().strip() == "Your wealth, exactly."


def test_one_refused_recipient_does_not_stop_the_next(smtp: FakeSmtp) -> None:
    mailer = Mailer(load_settings())
    with mailer.session() as session:
        refused = mailer.new_message("refuse-me@example.org", "Hi")
        refused.set_content("x")
        with pytest.raises(RecipientRefused, match=r"refuse-me@example.org: 550"):
            session.send(refused)
        ok = mailer.new_message("bob@example.org", "Hi")
        ok.set_content("y")
        session.send(ok)
    assert [m["To"] for m in smtp.messages()] == ["bob@example.org"]


def test_unreachable_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEALTH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WEALTH_SMTP_PORT", "9")  # discard: nothing listens
    monkeypatch.setenv("WEALTH_SMTP_SECURITY", "none")
    monkeypatch.setenv("WEALTH_SMTP_PASSWORD", "hunter2-secret")
    mailer = Mailer(load_settings())
    message = mailer.new_message("alice@example.org", "Hi")
    with pytest.raises(MailError, match=r"cannot reach the SMTP server 127\.0\.0\.1:9") as caught:
        mailer.send(message)
    assert "hunter2-secret" not in str(caught.value)


def test_without_a_server_messages_land_in_the_outbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WEALTH_SMTP_HOST", raising=False)
    monkeypatch.setenv("WEALTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    mailer = Mailer(load_settings())
    message = mailer.new_message("alice@example.org", "Weekly")
    message.set_content("body")
    delivery = mailer.send(message)
    assert delivery.transport == "outbox"
    [path] = (tmp_path / "outbox").glob("*.eml")
    assert str(path) == delivery.detail
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Weekly"


def test_wrong_security_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEALTH_SMTP_SECURITY", "tls13")
    with pytest.raises(ValueError, match="WEALTH_SMTP_SECURITY must be one of"):
        load_settings()


@pytest.mark.parametrize(
    ("address", "ok"),
    [("a@example.org", True), ("", False), (None, False), ("no-at.example", False), ("a@b", False)],
)
def test_valid_address(address: str | None, ok: bool) -> None:
    assert valid_address(address) is ok
