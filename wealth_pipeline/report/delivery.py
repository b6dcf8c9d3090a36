"""Sending the weekly report: who gets it, once per ISO week, and what happened to each.

`report_deliveries` holds one row per user and ISO week. A message is claimed in that row
before it is handed to the mail server, so two runs of the same week never both send it, and
a re-run sends only what has not been sent (`resend` sends again on purpose). One refused
recipient or one user whose report cannot be built is recorded and reported; the others
still get theirs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from wealth_pipeline import clock
from wealth_pipeline.mail import Mailer, MailError, MailSession, RecipientRefused, valid_address
from wealth_pipeline.report.facts import NoFigures, load_report
from wealth_pipeline.report.render import RenderedReport, render
from wealth_pipeline.sync.checks import Finding, stale_accounts
from wealth_pipeline.warehouse.schema import profiles, report_deliveries, users

SENDING = "sending"  # the claim's detail while a message is on its way
CLAIM_EXPIRES = timedelta(minutes=15)  # a claim older than this was interrupted: send again


class ReportError(Exception):
    """Bad input to a report command (an unknown user); the message says why."""


@dataclass(frozen=True)
class Recipient:
    user_id: int
    username: str
    address: str | None
    enabled: bool


@dataclass(frozen=True)
class Outcome:
    username: str
    address: str | None
    status: str  # sent | failed | skipped | dry-run
    detail: str
    subject: str | None = None

    def describe(self) -> str:
        to = f" <{self.address}>" if self.address else ""
        return f"{self.username}{to}: {self.status} - {self.detail}"


def recipients(connection: Connection, usernames: Sequence[str] | None = None) -> list[Recipient]:
    """Everyone who opted in (active users), or exactly the named users (unknown: an error)."""
    query = (
        select(users.c.id, users.c.username, users.c.email, profiles.c.report_email,
               profiles.c.weekly_report_enabled)
        .join(profiles, profiles.c.user_id == users.c.id)
        .where(users.c.is_active.is_(True))
        .order_by(users.c.username)
    )  # fmt: skip
    if usernames:
        query = query.where(users.c.username.in_(list(usernames)))
    else:
        query = query.where(profiles.c.weekly_report_enabled.is_(True))
    found = [
        Recipient(row.id, row.username, row.report_email or row.email,
                  bool(row.weekly_report_enabled))
        for row in connection.execute(query)
    ]  # fmt: skip
    missing = sorted(set(usernames or ()) - {r.username for r in found})
    if missing:
        raise ReportError(f"no active user named {', '.join(map(repr, missing))}")
    return found


def _skip_reason(recipient: Recipient) -> str | None:
    if not recipient.enabled:
        return f"the weekly report is off (`wealth users set {recipient.username} --weekly-report`)"
    if not recipient.address:
        return f"no e-mail address (`wealth users set {recipient.username} --email ADDRESS`)"
    if not valid_address(recipient.address):
        return f"{recipient.address!r} is not a valid e-mail address"
    return None


def delivered(connection: Connection, user_id: int, week: str):
    rd = report_deliveries
    return connection.execute(select(rd).where(rd.c.user_id == user_id, rd.c.week == week)).first()


def _already_sent(row: Any, week: str) -> str | None:
    if row is None or row.status != "sent":
        return None
    when = clock.as_utc(row.sent_at).isoformat(timespec="minutes")
    return f"already sent for {week} to {row.recipient} at {when} (--resend sends again)"


def _claim(
    engine: Engine, recipient: Recipient, week: str, resend: bool, now: datetime
) -> str | None:
    """Take the week's row for this user; None when taken, else why it cannot be sent now."""
    rd = report_deliveries
    try:
        with engine.begin() as connection:
            row = delivered(connection, recipient.user_id, week)
            if row is None:
                connection.execute(
                    insert(rd).values(user_id=recipient.user_id, week=week,
                                      recipient=recipient.address, status="failed",
                                      detail=SENDING, sent_at=now)
                )  # fmt: skip
                return None
            if row.status == "sent" and not resend:
                when = clock.as_utc(row.sent_at).isoformat(timespec="minutes")
                return (
                    f"already sent for {week} to {row.recipient} at {when} (--resend sends again)"
                )
            if row.detail == SENDING and now - clock.as_utc(row.sent_at) < CLAIM_EXPIRES:
                return f"another run is sending the report for {week}"
            taken = connection.execute(
                update(rd)
                .where(rd.c.id == row.id, rd.c.sent_at == row.sent_at)
                .values(recipient=recipient.address, status="failed", detail=SENDING, sent_at=now)
            ).rowcount
            return None if taken == 1 else f"another run is sending the report for {week}"
    except IntegrityError:
        return f"another run is sending the report for {week}"


def _record(
    engine: Engine, user_id: int, week: str, status: str, detail: str, message_id: str | None
) -> None:
    rd = report_deliveries
    with engine.begin() as connection:
        connection.execute(
            update(rd)
            .where(rd.c.user_id == user_id, rd.c.week == week)
            .values(status=status, detail=detail, message_id=message_id,
                    sent_at=clock.now())
        )  # fmt: skip


class _Sessions:
    """One SMTP connection for the batch, opened on first use and again after it broke."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.stack = ExitStack()
        self.session: MailSession | None = None

    def get(self) -> MailSession:
        if self.session is None:
            self.session = self.stack.enter_context(self.mailer.session())
        return self.session

    def broken(self) -> None:
        self.session = None
        with suppress(Exception):  # a broken connection may fail to say goodbye
            self.stack.close()
        self.stack = ExitStack()

    def close(self) -> None:
        self.stack.close()


@dataclass
class _Batch:
    """One sending run: where to read and write, the week, and what was asked."""

    engine: Engine
    reader: Engine
    sessions: _Sessions
    week: str
    today: date
    now: datetime
    resend: bool
    dry_run: bool
    stale: list[Finding]  # accounts not synced lately, read once for everyone

    def render(self, user_id: int) -> RenderedReport:
        with self.reader.connect() as connection:
            report = load_report(connection, user_id, today=self.today, now=self.now,
                                 stale=self.stale)  # fmt: skip
        return render(report)


def send_reports(engine: Engine, mailer: Mailer, **options: Any) -> list[Outcome]:
    """Send this week's report to every opted-in user (or the named ones); one outcome each.

    The options are `iter_send_reports`'s.
    """
    return list(iter_send_reports(engine, mailer, **options))


def iter_send_reports(
    engine: Engine,
    mailer: Mailer,
    *,
    usernames: Sequence[str] | None = None,
    today: date | None = None,
    resend: bool = False,
    dry_run: bool = False,
    reader: Engine | None = None,
    now: datetime | None = None,
) -> Iterator[Outcome]:
    """Each user's outcome as soon as it is known (`wealth report send` prints them as they come).

    `usernames`: only these (default: everyone who opted in); `today`: the report's day
    (default: today in Europe/Berlin), which names the ISO week; `resend`: send again what
    was sent this week; `dry_run`: render only; `reader`: a read-only engine for the figures.
    """
    now = now or clock.now()
    today = today or clock.today(now)
    reader = reader or engine
    with reader.connect() as connection:
        people = recipients(connection, usernames)
        stale = stale_accounts(connection, now)
    batch = _Batch(engine, reader, _Sessions(mailer), clock.iso_week(today), today, now, resend,
                   dry_run, stale)  # fmt: skip
    try:
        for person in people:
            yield _deliver(batch, person)
    finally:
        batch.sessions.close()


def _deliver(batch: _Batch, person: Recipient) -> Outcome:
    def outcome(status: str, detail: str, subject: str | None = None) -> Outcome:
        return Outcome(person.username, person.address, status, detail, subject)

    reason = _skip_reason(person)
    if reason:
        return outcome("skipped", reason)
    assert person.address is not None
    if not batch.resend:
        with batch.reader.connect() as connection:
            sent = _already_sent(delivered(connection, person.user_id, batch.week), batch.week)
        if sent:
            return outcome("skipped", sent)
    try:
        rendered = batch.render(person.user_id)
    except NoFigures as exc:
        return outcome("skipped", str(exc))
    except Exception as exc:  # one user's broken report never stops the others
        return outcome("failed", f"the report could not be built: {type(exc).__name__}: {exc}")
    if batch.dry_run:
        return outcome("dry-run", f"would send via {batch.sessions.mailer.transport}",
                       rendered.subject)  # fmt: skip
    taken = _claim(batch.engine, person, batch.week, batch.resend, batch.now)
    if taken:
        return outcome("skipped", taken)
    mailer = batch.sessions.mailer
    try:
        message = rendered.message(mailer.new_message(person.address, rendered.subject))
        delivery = batch.sessions.get().send(message)
    except Exception as exc:  # recorded, reported; the next user still gets theirs
        if isinstance(exc, MailError):
            detail = str(exc)
            if not isinstance(exc, RecipientRefused):
                batch.sessions.broken()  # reconnect for the next user
        else:
            detail = f"{type(exc).__name__}: {exc}"
        _record(batch.engine, person.user_id, batch.week, "failed", detail, None)
        return outcome("failed", detail, rendered.subject)
    detail = f"{delivery.transport}: {delivery.detail}"
    _record(batch.engine, person.user_id, batch.week, "sent", detail, delivery.message_id)
    return outcome("sent", detail, rendered.subject)
