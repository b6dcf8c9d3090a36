"""The returns marts of a seeded world, dumped with doubles as hex: a speed change to the
returns models must leave this output identical (issue 16).

    .venv/bin/python -m bench.returns_rows TREE URL OUT     # TREE: a checkout to run

Run it with the code before and after (two checkouts, each on its own empty warehouse URL)
and `cmp` the two files; SQLite's and PostgreSQL's outputs are equal too. The world: two
users, five accounts in EUR, USD and CHF with random rates (some days missing), values on
~70 % of the days (the rest carried), every kind of flow, partial coverage; incremental
builds to four end days, a back-dated flow, then a full build, each dumped.
"""

import random
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

tree, url, out = sys.argv[1:4]
sys.path.insert(0, tree)
sys.path.insert(0, tree)
from sqlalchemy import select  # noqa: E402

from tests.support.returns import account, add_rates, flows, setup_user, values  # noqa: E402
from wealth_pipeline.marts.build import build_marts  # noqa: E402
from wealth_pipeline.warehouse import schema  # noqa: E402
from wealth_pipeline.warehouse.engine import get_engine, upgrade  # noqa: E402

engine = get_engine(url)
upgrade(engine)
rng = random.Random(16)
start = date(2024, 1, 1)
days = [start + timedelta(days=i) for i in range(120)]
for cur in ("USD", "CHF"):
    add_rates(engine, cur, {d: f"{rng.uniform(0.85, 1.3):.4f}" for d in days if rng.random() < 0.8})
user, broker = setup_user(engine)
user2, broker2 = setup_user(engine, "bob")
kinds = [
    "deposit",
    "withdrawal",
    "transfer_in",
    "transfer_out",
    "dividend",
    "interest",
    "fee",
    "tax",
    "other",
]
accs = []
for n, (u, br, cur) in enumerate(
    [
        (user, broker, "EUR"),
        (user, broker, "USD"),
        (user, broker, "CHF"),
        (user2, broker2, "USD"),
        (user2, broker2, "EUR"),
    ]
):
    acc = account(engine, u, br, f"A{n}", cur)
    first = rng.randint(0, 20)
    value = Decimal(rng.randint(1000, 50000))
    by_day = {}
    items = []
    for day in days[first:]:
        if rng.random() < 0.25:
            kind = rng.choice(kinds)
            amount = Decimal(rng.randint(1, 900_00)).scaleb(-2)
            items.append(
                (
                    day,
                    str(
                        -amount if kind in ("withdrawal", "transfer_out", "fee", "tax") else amount
                    ),
                    kind,
                )
            )
            value += amount
        value = max(
            (value * Decimal(1 + rng.uniform(-0.03, 0.031))).quantize(Decimal("0.01")), Decimal(100)
        )
        if rng.random() < 0.7:
            by_day[day] = str(value)
    values(engine, acc, cur, by_day)
    cover = (days[first + rng.randint(0, 10)], days[rng.randint(80, 119)])
    flows(engine, acc, [i for i in items if i[0] <= cover[1] + timedelta(days=5)], covered=cover)
lines = []


# The per-account figures, from their own table (before migration 0013) or from
# `mart_account_daily`'s rows: the same columns either way, so two trees compare.
ACCOUNT_COLUMNS = [
    "user_id",
    "day",
    "account_id",
    "base_currency",
    "currency",
    "covered",
    "value_start",
    "value_end",
    "external_flow",
    "paired_transfers",
    "income",
    "costs",
    "market_result",
    "currency_effect",
    "unexplained",
    "daily_return",
    "twr_index",
]


def account_figures():
    t = schema.metadata.tables.get("mart_account_returns_daily")
    if t is None:
        t = schema.mart_account_daily
        renamed = {"value_end": t.c.balance_base_currency}
        columns = [renamed.get(name, t.c.get(name)) for name in ACCOUNT_COLUMNS]
    else:
        columns = [t.c[name] for name in ACCOUNT_COLUMNS]
    return "account_returns", select(*columns).order_by(*t.primary_key.columns)


def dump(label):
    t = schema.mart_returns_daily
    with engine.connect() as c:
        for name, query in (
            account_figures(),
            (t.name, select(t).order_by(*t.primary_key.columns)),
        ):
            for r in c.execute(query):
                lines.append(
                    label
                    + " "
                    + name
                    + " "
                    + "|".join(v.hex() if isinstance(v, float) else repr(v) for v in r)
                )


for end in (days[40], days[41], days[90], days[119]):
    build_marts(engine, as_of=end)
    dump(f"incr {end}")
# a change in the middle: a new flow on one account, incremental rebuild
flows(engine, 2, [(days[60], "123.45", "deposit")], covered=(days[55], days[65]))
build_marts(engine, as_of=days[119])
dump("after change")
build_marts(engine, as_of=days[119], full=True)
dump("full")
Path(out).write_text("\n".join(lines) + "\n")
print(len(lines), "rows")
