"""Flows from the services, for the daily sync and the history backfill.

The sync asks each integration that reports flows for the last `SYNC_LOOKBACK_DAYS` days
(banks book late; re-fetching is idempotent by external id) and writes them in the account-
day's transaction, extending the account's coverage by the days the service answered for
(`cash_flow_span`). Reading flows never fails the balance: a failure is kept as a note and
the days stay uncovered (their change "not explained").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection

from wealth_pipeline.brokers.base import (
    BrokerError,
    BrokerIntegrationBase,
    CashFlowInfo,
    TwoFactorRequired,
)
from wealth_pipeline.flows.store import FlowError, FlowsWritten, NewFlow, write_flows

log = logging.getLogger(__name__)

SYNC_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class FetchedFlows:
    flows: list[CashFlowInfo] = field(default_factory=list)
    span: tuple[date, date] | None = None  # the days the flows are complete for
    error: str | None = None  # why no flows were read (the balance still counts)


def fetch_flows(
    integration: BrokerIntegrationBase, identifier: str, start: date, end: date
) -> FetchedFlows | None:
    """The service's flows of [start, end], None when it reports none. A second factor asked
    for the statement (some banks for long periods) propagates like any read's."""
    if not integration.supports_cash_flows():
        return None
    try:
        span = integration.cash_flow_span(identifier, start, end)
        if span is None:
            return FetchedFlows()
        flows = integration.get_cash_flows(identifier, *span)
    except TwoFactorRequired:
        raise
    except BrokerError as exc:
        return FetchedFlows(error=integration.scrub(str(exc)))
    return FetchedFlows(flows, span)


def sync_window(day: date) -> tuple[date, date]:
    return day - timedelta(days=SYNC_LOOKBACK_DAYS - 1), day


def write_fetched(
    connection: Connection,
    account_id: int,
    fetched: FetchedFlows | None,
    *,
    secrets: Sequence[str] = (),
) -> FlowsWritten | None:
    """Store what was fetched (auto flows) and extend the coverage; None when nothing."""
    if fetched is None or (not fetched.flows and fetched.span is None):
        if fetched is not None and fetched.error:
            log.warning("account %s: cash flows not read: %s", account_id, fetched.error)
        return None
    flows = [
        NewFlow(
            flow_date=f.flow_date,
            amount=f.amount,
            kind=f.kind,
            currency=f.currency,
            external_id=f.external_id,
            description=f.description,
            raw_data=f.raw_data,
        )
        for f in fetched.flows
    ]
    try:
        return write_flows(
            connection, account_id, flows, source="auto", covered=fetched.span, secrets=secrets
        )
    except FlowError as exc:  # the service's garbage: keep the balance, say why
        log.warning("account %s: cash flows refused: %s", account_id, exc)
        return None
