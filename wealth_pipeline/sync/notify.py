"""Telling a person that accounts wait for them: one e-mail per user and sync run.

An unattended sync cannot answer a bank's approval request or TAN; it pauses the account
(`pending_auth`) and, when an SMTP server is configured (`WEALTH_SMTP_HOST`), mails the owner
the list of waiting accounts with the exact command that continues each one. The mail holds
no credential and no challenge data (no TAN image, no challenge text): only account names,
the reason the run recorded (already scrubbed of secrets) and the command. Mail trouble is
reported, never raised: the sync's data is written whatever the mail server does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, func, select

from wealth_pipeline.brokers.connection import sync_command
from wealth_pipeline.mail import Mailer, MailError, valid_address
from wealth_pipeline.settings import Settings
from wealth_pipeline.sync.account import Outcome
from wealth_pipeline.sync.waiting import why_of
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    brokers,
    financial_accounts,
    profiles,
    users,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Waiting:
    """One paused account, as its owner reads it."""

    account_id: int
    account_name: str
    broker_name: str
    reason: str
    command: str
    last_data: date | None = None  # the newest snapshot's day


@dataclass(frozen=True)
class Recipient:
    username: str
    address: str | None
    accounts: tuple[Waiting, ...]


@dataclass
class NoticeReport:
    """What happened to the notices of one run (for its log and metadata)."""

    transport: str | None = None  # "smtp", or None when no server is configured
    sent: list[str] = field(default_factory=list)  # usernames
    failed: dict[str, str] = field(default_factory=dict)  # username -> why
    no_address: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.transport is None:
            return "no SMTP server configured (WEALTH_SMTP_HOST): no e-mail sent"
        parts = [f"sent to {', '.join(self.sent) or 'nobody'}"]
        if self.failed:
            parts.append(
                "not sent: " + "; ".join(f"{user}: {why}" for user, why in self.failed.items())
            )
        if self.no_address:
            parts.append(f"no e-mail address: {', '.join(self.no_address)}")
        return "; ".join(parts)


def recipients(engine: Engine, outcomes: Sequence[Outcome]) -> list[Recipient]:
    """The owners of the paused accounts in `outcomes`, each with their accounts (id order)."""
    reasons = {o.account_id: o.reason or "" for o in outcomes if o.status == "pending_auth"}
    if not reasons:
        return []
    last_data = (
        select(func.max(account_snapshots.c.snapshot_date))
        .where(account_snapshots.c.account_id == financial_accounts.c.id)
        .scalar_subquery()
    )
    query = (
        select(
            financial_accounts.c.id,
            financial_accounts.c.name,
            last_data.label("last_data"),
            brokers.c.name.label("broker_name"),
            users.c.username,
            func.coalesce(users.c.email, profiles.c.report_email).label("address"),
        )
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .join(users, users.c.id == financial_accounts.c.user_id)
        .outerjoin(profiles, profiles.c.user_id == users.c.id)
        .where(financial_accounts.c.id.in_(sorted(reasons)))
        .order_by(users.c.username, financial_accounts.c.id)
    )
    grouped: dict[str, tuple[str | None, list[Waiting]]] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            _, waiting = grouped.setdefault(row.username, (row.address, []))
            waiting.append(
                Waiting(
                    account_id=row.id,
                    account_name=row.name,
                    broker_name=row.broker_name,
                    reason=reasons[row.id],
                    command=sync_command(row.id, row.username),
                    last_data=row.last_data,
                )
            )
    return [
        Recipient(username, address, tuple(waiting))
        for username, (address, waiting) in grouped.items()
    ]


def notice_text(recipient: Recipient, days: Sequence[date]) -> tuple[str, str]:
    """Subject and plain-text body of one user's notice."""
    count = len(recipient.accounts)
    noun = "account waits" if count == 1 else "accounts wait"
    subject = f"[Wealth Tracker] {count} {noun} for you"
    when = ", ".join(day.isoformat() for day in sorted(set(days)))
    lines = [
        f"Hello {recipient.username},",
        "",
        f"The daily sync of {when} could not log in to "
        f"{'this account' if count == 1 else 'these accounts'} without you: the login needs "
        "you (a code sent to your phone, an approval in the bank's app, a TAN or a fresh "
        "token; the reason is below each account). Nothing failed and nothing is lost: "
        f"{'it waits' if count == 1 else 'they wait'} until you sync "
        f"{'it' if count == 1 else 'them'}.",
        "",
    ]
    for waiting in recipient.accounts:
        day = waiting.last_data.isoformat() if waiting.last_data else "none yet"
        lines += [
            f"- {waiting.account_name} at {waiting.broker_name} (account {waiting.account_id})",
            f"  why: {why_of(waiting.reason)}",
            f"  last data: {day}",
            f"  sync it now: {waiting.command}",
            "",
        ]
    lines += [
        "Run the command where the wealth command line is installed. It asks for your "
        "password, then for the code, the approval or the token, writes today's balance and "
        "positions, and fills the days since the last data that the service still delivers.",
        "",
        "This message was sent by the sync of your wealth-pipeline. It contains no password "
        "and no code.",
    ]
    return subject, "\n".join(lines) + "\n"


def notify_pending_auth(
    engine: Engine, outcomes: Sequence[Outcome], days: Sequence[date], settings: Settings
) -> NoticeReport:
    """Mail each owner of a paused account once, when an SMTP server is configured."""
    report = NoticeReport()
    if not settings.smtp_host:
        return report
    report.transport = "smtp"
    found = recipients(engine, outcomes)
    if not found:
        return report
    mailer = Mailer(settings)
    deliverable = []
    for recipient in found:
        if valid_address(recipient.address):
            deliverable.append(recipient)
        else:
            report.no_address.append(recipient.username)
    if not deliverable:
        return report
    try:
        with mailer.session() as session:
            for recipient in deliverable:
                assert recipient.address is not None
                subject, body = notice_text(recipient, days)
                message = mailer.new_message(recipient.address, subject)
                message.set_content(body)
                try:
                    session.send(message)
                except MailError as exc:
                    report.failed[recipient.username] = str(exc)
                else:
                    report.sent.append(recipient.username)
    except Exception as exc:  # the server is unreachable or refused the login: keep the sync
        why = str(exc) if isinstance(exc, MailError) else type(exc).__name__
        for recipient in deliverable:
            if recipient.username not in report.sent:
                report.failed.setdefault(recipient.username, why)
    for username, why in report.failed.items():
        log.warning("approval notice for %s not sent: %s", username, why)
    return report
