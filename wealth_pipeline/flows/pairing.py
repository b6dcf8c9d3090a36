"""Pairing transfers between a user's own accounts, so they move wealth without counting as
saving (or spending).

Two flows pair when they are in different accounts of the same user, have opposite signs, the
same amount in the base currency after conversion (within `TOLERANCE` of the larger, for
rounding and conversion at slightly different days' rates), and lie at most `WINDOW_DAYS`
apart. Candidates are deposits/withdrawals/transfers/other (never income or costs). Greedy and
deterministic: outflows in date order take the closest unpaired inflow (earliest on ties);
a flow is never paired twice (`paired_flow_id` links both legs; `check_pairs` verifies).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, and_, select, update

from wealth_pipeline.warehouse.schema import cash_flows, financial_accounts

WINDOW_DAYS = 5
TOLERANCE = Decimal("0.005")  # half a percent: conversions at two days' rates
CANDIDATE_KINDS = ("deposit", "withdrawal", "transfer_in", "transfer_out", "other")


def _matches(out_amount: Decimal, in_amount: Decimal) -> bool:
    larger = max(abs(out_amount), abs(in_amount))
    return abs(out_amount + in_amount) <= larger * TOLERANCE


def plan_pairs(
    flows: list[tuple[int, int, date, Decimal]],
) -> list[tuple[int, int]]:
    """Pure: (outflow id, inflow id) pairs among unpaired `(id, account, day, base amount)`."""
    outs = sorted((f for f in flows if f[3] < 0), key=lambda f: (f[2], f[0]))
    ins = sorted((f for f in flows if f[3] > 0), key=lambda f: (f[2], f[0]))
    taken: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for out_id, out_account, out_day, out_amount in outs:
        best = None
        for in_id, in_account, in_day, in_amount in ins:
            if in_id in taken or in_account == out_account:
                continue
            gap = abs((in_day - out_day).days)
            if gap > WINDOW_DAYS or not _matches(out_amount, in_amount):
                continue
            key = (gap, in_day, in_id)
            if best is None or key < best[0]:
                best = (key, in_id)
        if best is not None:
            taken.add(best[1])
            pairs.append((out_id, best[1]))
    return pairs


def pair_transfers(connection: Connection, user_id: int, since: date | None = None) -> int:
    """Pair the user's unpaired candidate flows (from `since` - window on); pairs made."""
    conditions = [
        financial_accounts.c.user_id == user_id,
        cash_flows.c.paired_flow_id.is_(None),
        cash_flows.c.amount_base_currency.is_not(None),
        cash_flows.c.kind.in_(CANDIDATE_KINDS),
    ]
    if since is not None:
        conditions.append(cash_flows.c.flow_date >= since - timedelta(days=WINDOW_DAYS))
    rows = connection.execute(
        select(
            cash_flows.c.id,
            cash_flows.c.account_id,
            cash_flows.c.flow_date,
            cash_flows.c.amount_base_currency,
        )
        .join(financial_accounts, financial_accounts.c.id == cash_flows.c.account_id)
        .where(and_(*conditions))
    ).all()
    # Paired legs must not also be the target of another flow's link.
    pairs = plan_pairs([tuple(r) for r in rows])
    for out_id, in_id in pairs:
        connection.execute(
            update(cash_flows).where(cash_flows.c.id == out_id).values(paired_flow_id=in_id)
        )
        connection.execute(
            update(cash_flows).where(cash_flows.c.id == in_id).values(paired_flow_id=out_id)
        )
    return len(pairs)


def check_pairs(connection: Connection, user_id: int | None = None) -> list[str]:
    """Problems with the pairing: a flow linked from two others, or a link not mutual."""
    partner = cash_flows.alias("partner")
    query = select(cash_flows.c.id, cash_flows.c.paired_flow_id, partner.c.paired_flow_id).join(
        partner, partner.c.id == cash_flows.c.paired_flow_id
    )
    if user_id is not None:
        query = query.join(
            financial_accounts, financial_accounts.c.id == cash_flows.c.account_id
        ).where(financial_accounts.c.user_id == user_id)
    problems = []
    targets: dict[int, int] = {}
    for flow_id, paired, back in connection.execute(query):
        if back != flow_id:
            problems.append(f"flow {flow_id} is paired with {paired}, which is paired with {back}")
        if paired in targets:
            problems.append(f"flow {paired} is paired twice (from {targets[paired]} and {flow_id})")
        targets[paired] = flow_id
    return problems
