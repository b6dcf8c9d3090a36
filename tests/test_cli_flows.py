"""`wealth flows` and `wealth import flows` end to end with CliRunner on SQLite and
PostgreSQL: flows by hand (signs, kinds, conversion, pairing of own transfers, removal),
the banks' exports through their presets (idempotent re-import), column mapping, and bad
files refused whole with line numbers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from tests.support.cli import add_manual, run, wealth_ok
from wealth_pipeline.flows.pairing import check_pairs
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import cash_flow_coverage, cash_flows

DATA = Path(__file__).parent / "data" / "flows"


def flows_of(url: str, account_id: int) -> list:
    with get_engine(url).connect() as c:
        return (
            c.execute(
                select(cash_flows)
                .where(cash_flows.c.account_id == account_id)
                .order_by(cash_flows.c.id)
            )
            .mappings()
            .all()
        )


def test_flows_by_hand(env: str) -> None:
    giro = add_manual("EUR", "Giro")
    savings = add_manual("EUR", "Savings")
    out = wealth_ok("flows", "add", str(giro), "--user", "alice", "--date", "2024-01-10",
                    "--amount", "500", "--kind", "transfer_out").output  # fmt: skip
    assert "transfer_out -500.0000 EUR" in out
    out = wealth_ok("flows", "add", str(savings), "--user", "alice", "--date", "2024-01-11",
                    "--amount", "500.00", "--kind", "transfer_in").output  # fmt: skip
    assert "1 transfer paired" in out
    wealth_ok("flows", "add", str(giro), "--user", "alice", "--date", "2024-01-12",
              "--amount", "2.5", "--kind", "fee")  # fmt: skip
    rows = flows_of(env, giro)
    assert [r["amount"] for r in rows] == [Decimal("-500"), Decimal("-2.5")]
    assert rows[0]["amount_base_currency"] == Decimal("-500")  # EUR into EUR
    (incoming,) = flows_of(env, savings)
    assert (
        rows[0]["paired_flow_id"] == incoming["id"] and incoming["paired_flow_id"] == rows[0]["id"]
    )
    with get_engine(env).connect() as c:
        assert check_pairs(c) == []

    listing = wealth_ok("flows", "list", "--user", "alice", "--account", str(giro)).output
    assert "no days with known-complete flows" in listing and "fee" in listing
    # bad input: a clear error, nothing written
    for args, message in [
        (("--amount", "1.23456", "--kind", "deposit"), "decimal places"),
        (("--amount", "-5", "--kind", "deposit"), "must not be negative"),
        (("--amount", "abc", "--kind", "deposit"), "not an amount"),
    ]:
        result = run("flows", "add", str(giro), "--user", "alice", "--date", "2024-01-15", *args)
        assert result.exit_code == 1 and message in result.output, result.output
    assert run("flows", "add", str(giro), "--user", "bob", "--date", "2024-01-15",
               "--amount", "1", "--kind", "deposit").exit_code == 1  # fmt: skip
    assert len(flows_of(env, giro)) == 2
    # removing a leg unpairs the other
    wealth_ok("flows", "remove", str(rows[0]["id"]), "--user", "alice")
    assert flows_of(env, savings)[0]["paired_flow_id"] is None
    assert run("flows", "remove", str(incoming["id"]), "--user", "bob").exit_code == 1
    out = wealth_ok("flows", "cover", str(giro), "--user", "alice", "--from", "2024-01-01",
                    "--to", "2024-01-31").output  # fmt: skip
    assert "2024-01-01 .. 2024-01-31" in out


def test_bank_presets_import_their_exports(env: str) -> None:
    for preset, name, currency, expected in [
        ("dkb", "dkb-girokonto.csv", "EUR",
         {("2026-10-28", "-500.0000", "withdrawal"), ("2026-10-27", "3250.0000", "deposit"),
          ("2026-10-15", "-1150.0000", "withdrawal"), ("2026-10-01", "4.3500", "interest")}),
        ("commerzbank", "commerzbank-umsaetze.csv", "EUR",
         {("2026-10-30", "-85.0000", "withdrawal"), ("2026-10-29", "2980.5000", "deposit"),
          ("2026-10-02", "-4.9000", "fee"), ("2026-10-01", "-250.0000", "withdrawal")}),
        ("zkb", "zkb-account.csv", "CHF",
         {("2026-10-31", "1.2500", "interest"), ("2026-10-25", "6450.0000", "deposit"),
          ("2026-10-20", "-1200.0000", "withdrawal"), ("2026-10-05", "-3.0000", "fee")}),
    ]:  # fmt: skip
        account = add_manual(currency, f"{preset} account")
        path = str(DATA / name)
        out = wealth_ok("import", "flows", str(account), path, "--user", "alice",
                        "--preset", preset).output  # fmt: skip
        assert "Imported 4 flow(s)" in out and "4 new" in out, out
        rows = flows_of(env, account)
        got = {(r["flow_date"].isoformat(), str(r["amount"]), r["kind"]) for r in rows}
        assert got == expected
        assert all(r["source"] == "import" for r in rows)
        again = wealth_ok("import", "flows", str(account), path, "--user", "alice",
                          "--preset", preset).output  # fmt: skip
        assert "0 new, 0 updated, 4 unchanged" in again
        assert len(flows_of(env, account)) == 4
        with get_engine(env).connect() as c:
            span = c.execute(
                select(
                    cash_flow_coverage.c.covered_from, cash_flow_coverage.c.covered_through
                ).where(cash_flow_coverage.c.account_id == account)
            ).one()
        assert (min(r["flow_date"] for r in rows), max(r["flow_date"] for r in rows)) == tuple(span)
    zkb = flows_of(env, account)
    assert {r["external_id"] for r in zkb} == {
        "Z261031001",
        "Z261025017",
        "Z261020044",
        "Z261005003",
    }


def test_wrong_currency_and_bad_rows_import_nothing(env: str, tmp_path: Path) -> None:
    usd = add_manual("USD", "Dollars")
    result = run("import", "flows", str(usd), str(DATA / "zkb-account.csv"), "--user", "alice",
                 "--preset", "zkb")  # fmt: skip
    assert result.exit_code == 1 and "the file is in CHF but the account is in USD" in result.output
    bad = tmp_path / "mine.csv"
    bad.write_text(
        "Booked;What;Value;Type\n"
        "2024-01-05;Salary;1000.00;deposit\n"
        "2024-01-06;Oops;12,5;deposit\n"
        "2024-13-01;Rent;-500;withdrawal\n"
        "2024-01-08;Gift;10;present\n"
    )
    args = ["import", "flows", str(usd), str(bad), "--user", "alice", "--delimiter", ";",
            "--date-column", "Booked", "--amount-column", "Value",
            "--description-column", "What", "--kind-column", "Type"]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 1
    assert "line 3: bad amount '12,5'" in result.output
    assert "line 4: bad date '2024-13-01'" in result.output
    assert "line 5: unknown kind 'present'" in result.output
    assert "nothing was imported" in result.output
    with get_engine(env).connect() as c:
        assert c.execute(select(func.count()).select_from(cash_flows)).scalar() == 0
    bad.write_text(
        "Booked;What;Value;Type\n2024-01-05;Salary;1000.00;deposit\n2024-01-09;Rent;-400;withdrawal\n"
    )
    out = wealth_ok(*args).output
    assert "Imported 2 flow(s)" in out
    assert [r["kind"] for r in flows_of(env, usd)] == ["deposit", "withdrawal"]
