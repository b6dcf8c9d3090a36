"""`wealth brokers/accounts/snapshots/import` end to end with CliRunner, on SQLite and
PostgreSQL: prompted and file credentials (validated before anything is stored, encrypted,
shown only masked), manual accounts, all-or-nothing CSV import, sync flags, removal, owner
scoping, and a database that never holds a secret in plain text."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from tests.support.cli import PASSWORD, account_id_in, add_manual, run, wealth_ok
from wealth_pipeline.brokers.catalogue import MASK
from wealth_pipeline.cli import main
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
    financial_accounts,
    mart_changes,
    metadata,
)

PIN = "pin-90817-geheim"
TRUEWEALTH = {
    "username": "me@example.ch",
    "password": "tw-pass-77831",
    "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",  # 160 bits (pyotp needs 112)
}
FLEX_TOKEN = "flex-token-5566778899"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNlY3JldA"
SECRETS = [PASSWORD, PIN, TRUEWEALTH["password"], TRUEWEALTH["totp_secret"], FLEX_TOKEN, JWT]


def add_dkb(user: str = "alice") -> int:
    result = wealth_ok(
        "accounts", "add", "--user", user, "--broker", "dkb", "--name", "DKB Giro",
        "--identifier", "DE02120300000000202051", "--password-env", "TEST_WEALTH_PASSWORD",
        input=f"alice.dkb\n{PIN}\n",
    )  # fmt: skip
    assert "Username:" in result.output and "PIN:" in result.output
    assert "alice.dkb" in result.output and PIN not in result.output  # echoed vs hidden
    return account_id_in(result)


def count(url: str, table, *where) -> int:
    with get_engine(url).connect() as connection:
        return connection.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_accounts_end_to_end(env: str, tmp_path: Path) -> None:
    dkb = add_dkb()
    manual = add_manual()

    # The catalogue loaded itself on first use; the PIN was asked without echo.
    listing = wealth_ok("brokers", "list").output
    assert "dkb" in listing and "morganstanley" in listing
    # Each broker's credential schema and usual currency, as the README says.
    lines = {line.split()[0]: line for line in listing.splitlines() if line.strip()}
    assert lines["dkb"].endswith("EUR       yes  unattended  username, pin*")
    assert lines["truewealth"].endswith("username, password*, totp_secret*")
    assert lines["morganstanley"].endswith("jwt*, employee_id, [include_unvested]")
    assert " base " in lines["manual"] and lines["manual"].endswith(" -")
    with get_engine(env).connect() as connection:
        row = connection.execute(
            select(financial_accounts).where(financial_accounts.c.id == dkb)
        ).one()
    assert row.encrypted_credentials and PIN.encode() not in row.encrypted_credentials
    assert (row.currency, row.is_manual, row.sync_enabled) == ("EUR", False, True)

    # Past balances of the manual USD account; rates exist for some days only.
    with get_engine(env).begin() as connection:
        connection.execute(
            insert(exchange_rates),
            [
                {"rate_date": date(2024, 1, 31), "quote_currency": "USD", "rate": Decimal("1.0837"), "source": "t"},
                {"rate_date": date(2024, 2, 29), "quote_currency": "USD", "rate": Decimal("1.0813"), "source": "t"},
            ],
        )  # fmt: skip
    csv = tmp_path / "balances.csv"
    csv.write_text(
        "date,balance,currency\n2024-01-31,1083.70,USD\n2024-02-29,2162.6,USD\n2023-06-30,5,USD\n"
    )
    result = wealth_ok("import", "csv", str(manual), str(csv), "--user", "alice")
    assert f"Imported 3 snapshot(s) into account {manual} (2023-06-30 .. 2024-02-29)." in (
        result.output
    )
    assert "1 not converted to EUR (no rate)" in result.output
    assert "2023-06-30: no ECB rate for USD" in result.output
    with get_engine(env).connect() as connection:
        rows = connection.execute(
            select(account_snapshots).order_by(account_snapshots.c.snapshot_date)
        ).all()
        changed = connection.execute(select(mart_changes.c.earliest_changed_day)).scalar()
    assert [(r.snapshot_source, r.balance_base_currency) for r in rows] == [
        ("import", None),
        ("import", Decimal("1000.0000")),
        ("import", Decimal("2000.0000")),
    ]
    assert rows[0].base_currency is None and rows[1].exchange_rate_used == Decimal("0.922764602750")
    assert changed == date(2023, 6, 30)

    # A manual snapshot; the list shows it with its conversion.
    wealth_ok(
        "snapshots", "add", str(manual), "--user", "alice", "--date", "2024-02-29",
        "--balance", "-1.5", "--replace",
    )  # fmt: skip
    shown = wealth_ok("snapshots", "list", str(manual), "--user", "alice", "--limit", "2").output
    # Amounts at the currency's minor unit (cents), the stored 4 places with --exact.
    assert "2024-02-29  -1.50 USD" in shown and "manual" in shown and "2024-01-31" in shown
    assert "2024-01-31  1,083.70 USD  1,000.00 EUR  import" in shown
    assert "2023-06-30" not in shown
    exact = wealth_ok("snapshots", "list", str(manual), "--user", "alice", "--exact").output
    assert "2024-01-31  1083.7000 USD  1000.0000 EUR" in exact
    accounts = wealth_ok("accounts", "list", "--user", "alice").output
    assert "DKB Giro" in accounts and "-1.50 USD on 2024-02-29" in accounts
    exact = wealth_ok("accounts", "list", "--user", "alice", "--exact").output
    assert "-1.5000 USD on 2024-02-29" in exact

    # Credentials masked: the login in clear, the PIN never.
    creds = run(
        "accounts",
        "credentials",
        str(dkb),
        "--user",
        "alice",
        "--password-env",
        "TEST_WEALTH_PASSWORD",
    )
    assert creds.exit_code == 0, creds.output
    assert "alice.dkb" in creds.output and MASK in creds.output and PIN not in creds.output
    assert (
        "stores no credentials"
        in wealth_ok("accounts", "credentials", str(manual), "--user", "alice").output
    )

    # The account's own sync flag.
    wealth_ok("accounts", "sync", "off", str(dkb), "--user", "alice")
    assert count(env, financial_accounts, financial_accounts.c.sync_enabled.is_(False)) == 2
    wealth_ok("accounts", "sync", "on", str(dkb), "--user", "alice")
    assert count(env, financial_accounts, financial_accounts.c.sync_enabled.is_(False)) == 1
    manual_sync = run("accounts", "sync", "on", str(manual), "--user", "alice")
    assert manual_sync.exit_code == 1 and "manual account" in manual_sync.output

    # Removal asks first; --yes skips the question.
    refused = run("accounts", "remove", str(manual), "--user", "alice", input="n\n")
    assert refused.exit_code == 1 and count(env, account_snapshots) == 3
    wealth_ok("accounts", "remove", str(manual), "--user", "alice", "--yes")
    wealth_ok("accounts", "remove", str(dkb), "--user", "alice", "--yes")
    assert count(env, financial_accounts) == 0 and count(env, account_snapshots) == 0
    for output in (creds.output, result.output):
        assert PIN not in output


def test_prompts_follow_the_schema_hiding_secrets(env: str) -> None:
    result = run(
        "accounts", "add", "--user", "alice", "--broker", "morganstanley", "--name", "MS",
        "--currency", "usd", "--password-env", "TEST_WEALTH_PASSWORD",
        input=f"{JWT}\nE-123\ny\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("Session token (JWT):") < out.index("Employee ID:") < out.index("[y/N]")
    assert JWT not in out and "E-123" in out  # hidden vs echoed
    account = account_id_in(result)
    creds = wealth_ok(
        "accounts",
        "credentials",
        str(account),
        "--user",
        "alice",
        "--password-env",
        "TEST_WEALTH_PASSWORD",
    ).output
    assert "Include unvested shares  yes" in creds and JWT not in creds


def test_credentials_are_validated_before_anything_is_stored(env: str, tmp_path: Path) -> None:
    bad = tmp_path / "creds.json"
    bad.write_text(json.dumps({"username": 42, "totp_secret": "not base32 1!"}))
    result = run(
        "accounts", "add", "--user", "alice", "--broker", "truewealth", "--name", "TW",
        "--credentials-file", str(bad),
    )  # fmt: skip
    assert result.exit_code == 1
    assert (
        "invalid credentials: username: must be a string; password: is required; "
        "totp_secret: has the wrong format" in result.output
    )
    assert "not base32" not in result.output and "Password for" not in result.output

    good = tmp_path / "tw.json"
    good.write_text(json.dumps(TRUEWEALTH))
    wrong = run(
        "accounts", "add", "--user", "alice", "--broker", "truewealth", "--name", "TW",
        "--currency", "CHF", "--credentials-file", str(good), input="not my password\n",
    )  # fmt: skip
    assert wrong.exit_code == 1 and "wrong username or password" in wrong.output
    unknown = run(
        "accounts",
        "add",
        "--user",
        "alice",
        "--broker",
        "manual",
        "--name",
        "X",
        "--currency",
        "XXX",
    )
    assert unknown.exit_code == 1 and "unknown currency XXX" in unknown.output
    no_broker = run("accounts", "add", "--user", "alice", "--broker", "n26", "--name", "X")
    assert no_broker.exit_code == 1 and "unknown broker 'n26'" in no_broker.output
    no_user = run("accounts", "list", "--user", "carol")
    assert no_user.exit_code == 1 and "no such user: carol" in no_user.output
    assert count(env, financial_accounts) == 0

    ok = wealth_ok(
        "accounts", "add", "--user", "alice", "--broker", "truewealth", "--name", "TW",
        "--currency", "CHF", "--credentials-file", str(good), "--password-env", "TEST_WEALTH_PASSWORD",
    )  # fmt: skip
    assert "still holds the login in plain text: delete it" in ok.output
    duplicate = run(
        "accounts", "add", "--user", "alice", "--broker", "truewealth", "--name", "TW",
        "--credentials-file", str(good), "--password-env", "TEST_WEALTH_PASSWORD",
    )  # fmt: skip
    assert (
        duplicate.exit_code == 1
        and "already have a truewealth account named 'TW'" in duplicate.output
    )
    assert count(env, financial_accounts) == 1


def test_a_malformed_csv_writes_nothing(env: str, tmp_path: Path) -> None:
    account = add_manual("EUR")
    wealth_ok(
        "snapshots",
        "add",
        str(account),
        "--user",
        "alice",
        "--date",
        "2024-01-31",
        "--balance",
        "1",
    )
    csv = tmp_path / "bad.csv"
    csv.write_bytes(
        b"\xef\xbb\xbfdate, balance ,currency\n"
        b"2024-01-31,10,EUR\n"  # exists already
        b"2024-02-29,10.12345,EUR\n"
        b"2024-03-31,10,USD\n"
        b"2024-04-30,10,EUR\n"  # fine
        b"2024-04-30,11,EUR\n"
        b"2024-05-32,12,EUR\n"
    )
    result = run("import", "csv", str(account), str(csv), "--user", "alice")
    assert result.exit_code == 1
    assert "bad.csv: 5 of 6 rows are invalid; nothing was imported." in result.output
    for line in ("line 2: a snapshot for 2024-01-31 already exists", "line 3: balance 10.12345 has 5",
                 "line 4: currency USD differs", "line 6: date 2024-04-30 appears again (first on line 5)",
                 "line 7: bad date '2024-05-32'"):  # fmt: skip
        assert line in result.output
    assert "line 5" not in result.output.replace("first on line 5", "")
    assert count(env, account_snapshots) == 1

    fixed = tmp_path / "fixed.csv"
    fixed.write_text("date,balance,currency\n2024-01-31,10,EUR\n2024-04-30,10,EUR\n")
    assert run("import", "csv", str(account), str(fixed), "--user", "alice").exit_code == 1
    assert count(env, account_snapshots) == 1
    replaced = wealth_ok("import", "csv", str(account), str(fixed), "--user", "alice", "--replace")
    assert "Imported 2 snapshot(s)" in replaced.output and "1 replaced" in replaced.output
    assert "All converted to EUR." in replaced.output
    with get_engine(env).connect() as connection:
        rows = connection.execute(
            select(account_snapshots.c.balance, account_snapshots.c.snapshot_source)
        ).all()
    assert sorted(rows) == [(Decimal(10), "import"), (Decimal(10), "import")]


def test_manual_snapshots_are_checked(env: str) -> None:
    dkb = add_dkb()
    manual = add_manual("EUR")
    too_precise = run(
        "snapshots",
        "add",
        str(manual),
        "--user",
        "alice",
        "--date",
        "2024-01-31",
        "--balance",
        "1.00001",
    )
    assert too_precise.exit_code == 2 and "at most 4 are stored exactly" in too_precise.output
    synced = run(
        "snapshots", "add", str(dkb), "--user", "alice", "--date", "2024-01-31", "--balance", "1"
    )
    assert synced.exit_code == 1 and "only to manual accounts" in synced.output
    other = run(
        "snapshots",
        "add",
        str(manual),
        "--user",
        "alice",
        "--date",
        "2024-01-31",
        "--balance",
        "1",
        "--currency",
        "USD",
    )
    assert other.exit_code == 1 and "differs from the account's currency EUR" in other.output
    wealth_ok(
        "snapshots", "add", str(manual), "--user", "alice", "--date", "2024-01-31", "--balance", "1"
    )
    again = run(
        "snapshots", "add", str(manual), "--user", "alice", "--date", "2024-01-31", "--balance", "2"
    )
    assert again.exit_code == 1 and "--replace overwrites it" in again.output
    assert count(env, account_snapshots) == 1


def test_another_users_account_is_no_such_account(env: str, tmp_path: Path) -> None:
    account = add_manual("EUR")
    csv = tmp_path / "b.csv"
    csv.write_text("date,balance,currency\n2024-01-31,1,EUR\n")
    attempts = [
        ("accounts", "credentials", str(account), "--user", "bob"),
        ("accounts", "sync", "off", str(account), "--user", "bob"),
        ("accounts", "remove", str(account), "--user", "bob", "--yes"),
        (
            "snapshots",
            "add",
            str(account),
            "--user",
            "bob",
            "--date",
            "2024-01-31",
            "--balance",
            "1",
        ),
        ("snapshots", "list", str(account), "--user", "bob"),
        ("import", "csv", str(account), str(csv), "--user", "bob"),
    ]
    for args in attempts:
        result = run(*args)
        assert result.exit_code == 1, args
        assert f"Error: no such account: {account}" in result.output, args
        assert "Cash box" not in result.output
        # Exactly what an id nobody has answers.
        missing = run(*[str(account + 999) if a == str(account) else a for a in args])
        assert missing.output.replace(str(account + 999), "N") == result.output.replace(
            str(account), "N"
        )
    assert count(env, financial_accounts) == 1 and count(env, account_snapshots) == 0
    assert "has no accounts yet" in wealth_ok("accounts", "list", "--user", "bob").output


def test_the_database_holds_no_secret_in_plain_text(env: str, tmp_path: Path) -> None:
    add_dkb()
    tw = tmp_path / "tw.json"
    tw.write_text(json.dumps(TRUEWEALTH))
    ib = tmp_path / "ib.json"
    ib.write_text(json.dumps({"flex_token": FLEX_TOKEN, "query_id": "123456"}))
    for broker, file in (("truewealth", tw), ("ibkr", ib)):
        wealth_ok(
            "accounts", "add", "--user", "alice", "--broker", broker, "--name", broker,
            "--credentials-file", str(file), "--password-env", "TEST_WEALTH_PASSWORD",
        )  # fmt: skip
    wealth_ok(
        "accounts", "add", "--user", "alice", "--broker", "morganstanley", "--name", "MS",
        "--password-env", "TEST_WEALTH_PASSWORD", input=f"{JWT}\nE-1\nn\n",
    )  # fmt: skip
    dump = bytearray()
    with get_engine(env).connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    dump += value if isinstance(value, bytes) else str(value).encode()
                    dump += b"\x00"
    url = make_url(env)
    if url.get_backend_name() == "sqlite":  # the files themselves, write-ahead log included
        for path in Path(url.database).parent.glob("warehouse.sqlite*"):
            dump += path.read_bytes()
    assert b"DKB Giro" in dump and b"truewealth" in dump  # the dump did read the accounts
    for secret in SECRETS:
        assert secret.encode() not in dump, secret


@pytest.mark.parametrize(
    "command",
    [
        [], ["brokers"], ["brokers", "list"], ["brokers", "load"], ["brokers", "show"],
        ["accounts"], ["accounts", "add"], ["accounts", "list"], ["accounts", "credentials"],
        ["accounts", "sync"], ["accounts", "remove"], ["snapshots"], ["snapshots", "add"],
        ["snapshots", "list"], ["import"], ["import", "csv"],
    ],
)  # fmt: skip
def test_help_everywhere(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_brokers_show_and_load(env: str) -> None:
    shown = wealth_ok("brokers", "show", "ibkr").output
    assert "flex_token" in shown and "secret" in shown and "query_id" in shown
    assert "sync:            unattended" in shown
    viac = wealth_ok("brokers", "show", "viac").output
    assert "sync:            assisted" in viac and "SMS code" in viac
    listing = wealth_ok("brokers", "list").output
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[1:] if line.strip()}
    for code in ("viac", "morganstanley", "commerzbank"):
        assert "assisted" in rows[code] and "unattended" not in rows[code]
    for code in ("dkb", "truewealth", "ibkr"):
        assert "unattended" in rows[code]
    assert "manual" in rows["manual"][1:]
    assert "assisted = every fresh login needs you" in listing
    assert "Broker catalogue: 8 brokers, 0 added or updated." in wealth_ok("brokers", "load").output
    missing = run("brokers", "show", "nope")
    assert missing.exit_code == 1 and "unknown broker 'nope'" in missing.output
    usage = run("accounts", "sync", "maybe", "1", "--user", "alice")
    assert usage.exit_code == 2


def test_a_broker_names_its_usual_currency_and_missing_settings_are_warned_about(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob's base currency is CHF, but a DKB account is in EUR; a manual one takes his base
    currency. A missing FinTS registration is a warning about this machine, up front."""
    monkeypatch.setenv("BOB_PW", "bobs password")
    monkeypatch.delenv("WEALTH_FINTS_PRODUCT_ID", raising=False)
    dkb = wealth_ok(
        "accounts", "add", "--user", "bob", "--broker", "dkb", "--name", "Giro",
        "--password-env", "BOB_PW", input=f"bob.dkb\n{PIN}\n",
    )  # fmt: skip
    assert "Currency EUR, the usual currency at DKB (Deutsche Kreditbank)" in dkb.output
    warning = dkb.output.split("Warning: ")[1]
    assert warning.startswith(
        "this machine cannot sync DKB (Deutsche Kreditbank) yet: set WEALTH_FINTS_PRODUCT_ID"
    )
    assert dkb.output.index("Warning: ") < dkb.output.index("Username:")  # before the login
    cash = wealth_ok("accounts", "add", "--user", "bob", "--broker", "manual", "--name", "Cash")
    assert "Currency CHF, the base currency of bob" in cash.output
    assert "Warning" not in cash.output
    with get_engine(env).connect() as connection:
        currencies = {
            row.name: row.currency
            for row in connection.execute(
                select(financial_accounts.c.name, financial_accounts.c.currency)
            )
        }
    assert currencies == {"Giro": "EUR", "Cash": "CHF"}

    monkeypatch.setenv("WEALTH_FINTS_PRODUCT_ID", "9FA6681DEC0CF3046BFC2F8A6")
    again = wealth_ok(
        "accounts", "add", "--user", "bob", "--broker", "dkb", "--name", "Giro 2",
        "--currency", "CHF", "--password-env", "BOB_PW", input=f"bob.dkb\n{PIN}\n",
    )  # fmt: skip
    assert "Warning" not in again.output and "Currency" not in again.output
