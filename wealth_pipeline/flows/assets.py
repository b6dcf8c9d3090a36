"""`account_cash_flows` in Dagster: the day's cash flows the sync wrote beside balances and
positions, converted and paired, with the pairing's check.

The sync writes each account's flows in its account-day transaction (`flows.sync`); this
asset, run right after `account_balances` in the daily sync job, converts flows whose rate
has arrived (and refreshes provisional ones), pairs transfers between each user's own
accounts across the days, and reports what the days hold.
"""

from datetime import date, timedelta

import dagster as dg
from sqlalchemy import func, select

from wealth_pipeline.flows.pairing import WINDOW_DAYS, check_pairs, pair_transfers
from wealth_pipeline.flows.store import convert_flows
from wealth_pipeline.partitions import daily_partitions
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import cash_flows, financial_accounts


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="sync",
    kinds={"python", "sql"},
    deps=[dg.AssetKey("account_balances")],
    description=(
        "Cash flows of every synced account (deposits, withdrawals, dividends, interest, "
        "fees, taxes, transfers) as the services report them, written by the sync beside "
        "balances and positions; converted into the owner's base currency at the day's rate "
        "and transfers between a user's own accounts paired. The partition is the flow's day."
    ),
    tags={"domain": "flows"},
)
def account_cash_flows(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    days = sorted(date.fromisoformat(key) for key in context.partition_keys)
    first, last = days[0], days[-1]
    engine = warehouse.engine()
    with engine.begin() as connection:
        converted = convert_flows(connection)
        users = list(
            connection.execute(
                select(financial_accounts.c.user_id)
                .join(cash_flows, cash_flows.c.account_id == financial_accounts.c.id)
                .where(
                    cash_flows.c.flow_date.between(first - timedelta(days=WINDOW_DAYS), last),
                    cash_flows.c.paired_flow_id.is_(None),
                )
                .group_by(financial_accounts.c.user_id)
            ).scalars()
        )
        paired = sum(
            pair_transfers(connection, user, since=first - timedelta(days=WINDOW_DAYS))
            for user in users
        )
        kinds = dict(
            connection.execute(
                select(cash_flows.c.kind, func.count())
                .where(cash_flows.c.flow_date.between(first, last))
                .group_by(cash_flows.c.kind)
            ).all()
        )
        unconverted = connection.execute(
            select(func.count()).where(
                cash_flows.c.flow_date.between(first, last),
                cash_flows.c.amount_base_currency.is_(None),
            )
        ).scalar_one()
    total = sum(kinds.values())
    context.log.info(
        f"{first} .. {last}: {total} flow(s), {converted} converted, {paired} transfer(s) paired"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "days": f"{first} .. {last}" if first != last else first.isoformat(),
            "flows": total,
            "by_kind": dg.MetadataValue.json({k: kinds[k] for k in sorted(kinds)}),
            "converted_now": converted,
            "unconverted": unconverted,
            "transfers_paired_now": paired,
        }
    )


@dg.asset_check(
    asset=account_cash_flows,
    description="No transfer is paired twice, and every pairing is mutual (all days).",
)
def no_transfer_paired_twice(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        problems = check_pairs(connection)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "problems": len(problems),
            "first": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:20]) or "none"),
        },
    )


flows_checks = [no_transfer_paired_twice]
