"""`wealth users` and `wealth keys` end to end, on SQLite and PostgreSQL.

Passwords come from hidden prompts (CliRunner `input=`) or `--password-env`; exit codes
are 0 ok, 1 failure, 2 usage.
"""

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from wealth_pipeline.cli import main
from wealth_pipeline.security.vault import unlock
from wealth_pipeline.security.worker import unlock_for_sync
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import profiles, sealed_data_keys, users

PASSWORD = "alice's long password"
NEW_PASSWORD = "alice's newer password"


@pytest.fixture
def home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    warehouse_url: str,
    cheap_argon2,
) -> Path:
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    monkeypatch.delenv("WEALTH_SYNC_KEY_FILE", raising=False)
    monkeypatch.setenv("ALICE_PW", PASSWORD)
    monkeypatch.setenv("ALICE_NEW_PW", NEW_PASSWORD)
    monkeypatch.setenv("BOB_PW", "bob's password")
    return tmp_path / "home"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, prog_name="wealth")


@pytest.mark.parametrize(
    "command",
    [
        ("users",),
        ("users", "create"),
        ("users", "passwd"),
        ("users", "set"),
        ("users", "list"),
        ("keys",),
        ("keys", "init"),
        ("keys", "show"),
    ],
)
def test_help_on_every_command(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage: wealth " + " ".join(command) in result.output
    if command[-1] in ("create", "passwd", "set"):
        assert "--password-env NAME" in result.output


def test_users_and_keys_end_to_end(home: Path, warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    # Create: password asked twice, never echoed.
    created = run("users", "create", "alice", "--email", "a@example.com", input=f"{PASSWORD}\n" * 2)
    assert created.exit_code == 0, created.output
    assert "Created user alice" in created.output and PASSWORD not in created.output
    assert run("users", "create", "bob", "--base-currency", "usd", "--password-env", "BOB_PW")
    with engine.connect() as connection:
        # Unordered rows compared as a set: PostgreSQL may answer USD first.
        assert set(connection.execute(select(profiles.c.base_currency)).scalars()) == {
            "EUR",
            "USD",
        }
        assert unlock(connection, "alice", PASSWORD).username == "alice"

    # Auto-sync needs the sync key first.
    no_key = run("users", "set", "alice", "--auto-sync", "--password-env", "ALICE_PW")
    assert no_key.exit_code == 1 and "run `wealth keys init`" in no_key.output
    assert run("keys", "show").exit_code == 1
    init = run("keys", "init")
    assert init.exit_code == 0, init.output
    key_file = home / "keys" / "sync_key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Again (as after the demo made the key): not a dead end, the key is shown and kept.
    again = run("keys", "init")
    assert again.exit_code == 0 and "exists already" in again.output, again.output
    assert "--force" in again.output and "--auto-sync" in again.output
    assert init.output.split("key id")[1].split()[0] in again.output
    shown = run("keys", "show")
    assert shown.exit_code == 0 and str(key_file) in shown.output and "(mode 0600)" in shown.output
    assert "PRIVATE KEY" not in shown.output + init.output
    assert shown.output.split("key id")[1].strip() in init.output

    # A wrong password changes nothing; the right one seals the data key.
    wrong = run("users", "set", "alice", "--auto-sync", "--sync-frequency", "6", input="nope\n")
    assert wrong.exit_code == 1 and "wrong username or password" in wrong.output
    with engine.connect() as connection:
        assert connection.execute(select(sealed_data_keys)).first() is None
        assert set(connection.execute(select(profiles.c.sync_frequency_hours)).scalars()) == {24}
    enabled = run(
        "users",
        "set",
        "alice",
        "--auto-sync",
        "--sync-frequency",
        "6",
        "--monthly-aggregation",
        "max",
        "--weekly-report",
        "--base-currency",
        "chf",
        input=f"{PASSWORD}\n",
    )
    assert enabled.exit_code == 0, enabled.output
    assert "auto-sync            on (sealed to sync key" in enabled.output
    assert "weekly report        on, to a@example.com" in enabled.output
    with engine.connect() as connection:
        profile = connection.execute(
            select(profiles).join(users).where(users.c.username == "alice")
        ).one()
        assert (profile.auto_sync_enabled, profile.sync_frequency_hours) == (True, 6)
        assert (profile.monthly_aggregation, profile.base_currency) == ("max", "CHF")
        assert profile.weekly_report_enabled
        worker = unlock_for_sync(connection, profile.user_id)  # the key file from settings
        assert worker == unlock(connection, "alice", PASSWORD)

    listed = run("users", "list")
    assert listed.exit_code == 0
    assert "alice" in listed.output and "bob" in listed.output
    alice_line = next(line for line in listed.output.splitlines() if " alice " in line)
    assert "CHF" in alice_line and " on " in alice_line and "max" in alice_line

    # Password change: prompts current, new, new again; the old one no longer unlocks.
    changed = run("users", "passwd", "alice", input=f"{PASSWORD}\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert changed.exit_code == 0, changed.output
    stale = run(
        "users", "passwd", "alice", "--password-env", "ALICE_PW", "--new-password-env", "BOB_PW"
    )
    assert stale.exit_code == 1 and "wrong username or password" in stale.output
    with engine.connect() as connection:
        assert unlock(connection, "alice", NEW_PASSWORD).username == "alice"
        assert (
            connection.execute(
                select(users.c.credentials_version).where(users.c.username == "alice")
            ).scalar()
            == 2
        )
    # ...and the sealed copy, the same data key, still serves the worker.
    assert run("users", "set", "alice", "--auto-sync", "--password-env", "ALICE_NEW_PW")

    disabled = run("users", "set", "alice", "--no-auto-sync")
    assert disabled.exit_code == 0 and "auto-sync            off" in disabled.output
    with engine.connect() as connection:
        assert connection.execute(select(sealed_data_keys)).first() is None


def test_errors_have_trustworthy_exit_codes(home: Path) -> None:
    assert run("users", "create", "bob", "--password-env", "BOB_PW").exit_code == 0
    cases = [
        (("users", "create", "bob", "--password-env", "BOB_PW"), 1, "already exists"),
        (("users", "create", "carol", "--base-currency", "BGN"), 2, "the ECB quotes today"),
        (("users", "create", "carol", "--base-currency", "XYZ"), 2, "choose one of"),
        (("users", "create", "carol", "--email", "nope"), 2, "not an email address"),
        (("users", "create", "carol smith"), 2, "no spaces"),
        (("users", "create", "carol", "--password-env", "UNSET_VAR"), 2, "UNSET_VAR"),
        (("users", "set", "bob"), 2, "nothing to change"),
        (("users", "set", "nobody", "--base-currency", "usd"), 1, "no user named 'nobody'"),
        (("users", "set", "bob", "--sync-frequency", "0"), 2, "--sync-frequency"),
        (("users", "set", "bob", "--monthly-aggregation", "median"), 2, "median"),
        (("users", "set", "bob", "--weekly-report"), 1, "needs an email address"),
        (("users", "passwd", "nobody", "--password-env", "BOB_PW"), 1, "wrong username"),
    ]
    for args, code, message in cases:
        result = run(*args, input="short\nshort\n")
        assert (result.exit_code, message in result.output) == (code, True), (args, result.output)
    short = run("users", "create", "carol", input="short\nshort\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    # Passwords are never command-line arguments.
    assert run("users", "create", "carol", "--password", "x" * 10).exit_code == 2
