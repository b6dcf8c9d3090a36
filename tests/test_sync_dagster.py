"""The sync in Dagster and at the command line: the partitioned asset with fake brokers,
its checks, the evening schedule, and a 2FA pause completed by `wealth accounts auth` in
another process-like step; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from tests.support.sync import (
    PASSWORD,
    PIN,
    SYNC_DAY,
    TAN,
    TanBroker,
    account_status,
    make_world,
    session_purposes,
    settings,
    snapshot_rows,
    states,
)
from wealth_pipeline.cli import main
from wealth_pipeline.conversions.assets import conversion_checks, converted_snapshots
from wealth_pipeline.flows.assets import account_cash_flows
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshot
from wealth_pipeline.sync import checks
from wealth_pipeline.sync.assets import (
    SyncResource,
    build_daily_sync_schedule,
    daily_sync_job,
    sync_accounts,
    sync_checks,
    sync_day,
)
from wealth_pipeline.sync.runner import run_sync
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import account_snapshots as snapshots_table
from wealth_pipeline.warehouse.schema import financial_accounts
from wealth_pipeline.warehouse.schema import users as users_table

MIXED = {"fake_ok": 2, "fake_fail": 1, "fake_2fa": 1, "fake_slow": 2}


def materialize(url: str, key_file: Path, partition: str, instance: dg.DagsterInstance):
    return dg.materialize(
        [sync_accounts, converted_snapshots, *sync_checks, *conversion_checks],
        resources={
            "warehouse": WarehouseResource(database_url=url),
            "sync": SyncResource(sync_key_file=str(key_file), max_workers=4, max_per_broker=2),
        },
        partition_key=partition,
        instance=instance,
    )


def test_asset_materializes_with_fakes(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, MIXED)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(world.url, world.key_file, "2024-01-15", instance)
        assert result.success  # one failing account never fails the run
        [event, _positions] = result.asset_materializations_for_node("sync_accounts")
        metadata = {k: v.value for k, v in event.metadata.items()}
        assert metadata["accounts_synced"] == 4
        assert metadata["accounts_failed"] == 1
        assert metadata["accounts_pending_auth"] == 1
        assert metadata["rows_written"] == 12
        assert f"| {world.accounts['fake_fail'][0]} | fake_fail | " in metadata["failed"]
        assert "wealth accounts auth" in metadata["pending_auth"]
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert set(evaluations) == {c.check_key.name for c in sync_checks + conversion_checks}
        assert evaluations["no_duplicate_snapshots"].passed
        assert evaluations["snapshots_converted_or_explained"].passed
        assert evaluations["positions_match_balance"].passed
        assert evaluations["day_over_day_change"].passed
        # the failed and paused accounts were never synced: flagged
        assert not evaluations["accounts_synced_in_time"].passed
        assert evaluations["accounts_synced_in_time"].severity == dg.AssetCheckSeverity.WARN

        rows = snapshot_rows(world.engine)
        again = materialize(world.url, world.key_file, "2024-01-15", instance)
        assert again.success and snapshot_rows(world.engine) == rows
        [event, _positions] = again.asset_materializations_for_node("sync_accounts")
        assert event.metadata["accounts_due"].value == 1  # only the unavailable bank again

        # nothing secret in Dagster's event log
        logs = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
        logs += "\n".join(repr(entry) for entry in instance.all_logs(again.run_id))
        for secret in (PIN, PASSWORD, "dialog-42", "runs:1"):
            assert secret not in logs


def test_checks_find_problems(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 1})
    [account_id] = world.accounts["fake_ok"]
    with world.engine.begin() as connection:
        write_snapshot(connection, account_id,
                       NewSnapshot(date(2024, 1, 12), Decimal("100.0000"), "USD"), source="manual")  # fmt: skip
    run_sync(world.engine, SYNC_DAY, settings=settings())
    with world.engine.begin() as connection:
        [jump] = checks.large_changes(connection, [SYNC_DAY])
        assert jump.account_id == account_id and "100.0000 -> 1015.0000" in jump.detail
        assert checks.positions_off_balance(connection, [SYNC_DAY]) == []
        connection.execute(
            update(snapshots_table)
            .where(snapshots_table.c.snapshot_date == SYNC_DAY)
            .values(balance_base_currency=Decimal("1.0000"))
        )
        assert [f.account_id for f in checks.positions_off_balance(connection, [SYNC_DAY])] == [
            account_id
        ]
        assert checks.duplicate_snapshots(connection, [SYNC_DAY]) == []
        assert checks.unconverted_snapshots(connection, [SYNC_DAY]) == ([], [])
        connection.execute(
            update(snapshots_table)
            .where(snapshots_table.c.snapshot_date == SYNC_DAY)
            .values(balance_base_currency=None, conversion_note="no ECB rate for USD yet")
        )
        unexplained, explained = checks.unconverted_snapshots(connection, [SYNC_DAY])
        assert unexplained == [] and [f.detail for f in explained] == ["no ECB rate for USD yet"]
        connection.execute(update(snapshots_table).values(conversion_note=None))
        [unexplained], [] = checks.unconverted_snapshots(connection, [SYNC_DAY])
        assert unexplained.account_id == account_id and "without a reason" in unexplained.detail
        assert checks.stale_accounts(connection) == []
        connection.execute(update(financial_accounts).values(last_synced_at=None))
        # Never synced, but its broker data arrived just now (as a history fill writes it):
        # not late yet. Once that is older than the frequency, it is.
        assert checks.stale_accounts(connection) == []
        later = datetime.now(ZoneInfo("UTC")) + timedelta(hours=26)
        [late] = checks.stale_accounts(connection, later)
        assert late.account_id == account_id and "never synced, history filled" in late.detail
        connection.execute(update(snapshots_table).values(snapshot_source="manual"))
        assert [f.account_id for f in checks.stale_accounts(connection)] == [account_id]


@pytest.mark.parametrize(
    ("moment", "partition"),
    [
        (datetime(2024, 3, 31, 17, 30, tzinfo=ZoneInfo("Europe/Berlin")), "2024-03-31"),
        (datetime(2024, 10, 27, 17, 30, tzinfo=ZoneInfo("Europe/Berlin")), "2024-10-27"),
        (datetime(2024, 10, 26, 22, 30, tzinfo=ZoneInfo("UTC")), "2024-10-27"),  # 00:30 CEST
        (datetime(2024, 3, 30, 23, 30, tzinfo=ZoneInfo("UTC")), "2024-03-31"),  # 00:30 CET
    ],
)
def test_schedule_requests_the_berlin_day(moment: datetime, partition: str) -> None:
    assert sync_day(moment) == partition
    schedule, context = _sync_schedule_context(moment)
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == partition
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.cron_schedule == "30 17 * * *"
    assert schedule.job_name == daily_sync_job.name


def test_dst_partition_materializes(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 1})
    with dg.DagsterInstance.ephemeral() as instance:
        for key in ("2024-03-31", "2024-10-27"):
            assert materialize(world.url, world.key_file, key, instance).success
    assert [row[1] for row in snapshot_rows(world.engine)] == [
        date(2024, 3, 31),
        date(2024, 10, 27),
    ]


def test_two_factor_pause_then_cli_completion(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_2fa": 1})
    monkeypatch.setenv("TEST_SYNC_PASSWORD", PASSWORD)
    [account_id] = world.accounts["fake_2fa"]
    report = run_sync(world.engine, SYNC_DAY, settings=settings())
    assert [o.status for o in report.outcomes] == ["pending_auth"]
    assert account_status(world.engine, account_id)[0] == "pending_auth"
    assert "tan_dialog" in session_purposes(world.engine, account_id)
    assert snapshot_rows(world.engine) == []
    # waits for a person: the next days' runs leave it alone
    assert run_sync(world.engine, date(2024, 1, 16), settings=settings()).outcomes == []

    result = CliRunner().invoke(
        main,
        ["accounts", "auth", str(account_id), "--user", "alice",
         "--password-env", "TEST_SYNC_PASSWORD"],
        input=f"{TAN}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert TAN not in result.output and PIN not in result.output
    assert TanBroker.completed == [(TAN, b"dialog-42")]  # the paused dialog, resumed
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    assert [row[1] for row in snapshot_rows(world.engine)] == [today]
    assert account_status(world.engine, account_id) == ("active", None)
    assert "tan_dialog" not in session_purposes(world.engine, account_id)
    assert states(world.engine, today)[account_id][0] == "success"
    with world.engine.connect() as connection:
        source = connection.execute(select(snapshots_table.c.snapshot_source)).scalar()
    assert source == "auto"


def test_cli_wrong_tan_keeps_waiting(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_2fa": 1})
    monkeypatch.setenv("TEST_SYNC_PASSWORD", PASSWORD)
    [account_id] = world.accounts["fake_2fa"]
    run_sync(world.engine, SYNC_DAY, settings=settings())
    result = CliRunner().invoke(
        main,
        ["accounts", "auth", str(account_id), "--user", "alice",
         "--password-env", "TEST_SYNC_PASSWORD"],
        input="000001\n000002\n000003\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "000001" not in result.output and "Traceback" not in result.output
    assert snapshot_rows(world.engine) == []
    assert account_status(world.engine, account_id)[0] == "error"


def _add_user_with_account(world, name: str, email: str, code: str) -> int:
    """Another auto-syncing user (sealed to the world's sync key) with one account at `code`."""
    from tests.support import factories
    from tests.support.sync import broker_account
    from wealth_pipeline.security.sync_keys import (
        enable_auto_sync,
        load_public_key,
        public_key_path,
    )
    from wealth_pipeline.security.vault import unlock

    with world.engine.begin() as connection:
        owner = factories.user(connection, name, "EUR", password=PASSWORD, email=email)
        unlocked = unlock(connection, name, PASSWORD)
        enable_auto_sync(connection, unlocked, load_public_key(public_key_path(world.key_file)))
    return broker_account(world.engine, owner, unlocked, code, f"{name}-{code}")


def _metadata(result) -> dict:
    [event, _positions] = result.asset_materializations_for_node("sync_accounts")
    return {k: v.value for k, v in event.metadata.items()}


def test_paused_accounts_are_mailed_to_their_owner_once_per_run(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_2fa": 2, "fake_ok": 1})
    with world.engine.begin() as connection:
        connection.execute(update(users_table).values(email="alice@example.org"))
    bob = _add_user_with_account(world, "bob", "refuse-bob@example.org", "fake_2fa")
    carol = _add_user_with_account(world, "carol", "carol@example.org", "fake_ok")
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(world.url, world.key_file, "2024-01-15", instance)
        assert result.success  # a refused recipient never fails the sync
        metadata = _metadata(result)
        assert metadata["accounts_pending_auth"] == 3
        assert metadata["accounts_synced"] == 2
        [message] = smtp.messages()  # alice's two accounts in one mail; carol waits for nothing
        assert message["To"] == "alice@example.org"
        assert "2 accounts wait" in message["Subject"]
        body = message.get_content()
        for account_id in world.accounts["fake_2fa"]:
            assert f"wealth accounts auth {account_id} --user alice" in body
        assert "2024-01-15" in body
        assert f"accounts auth {bob}" not in body and f"accounts auth {carol}" not in body
        for secret in (PIN, PASSWORD, TAN, "dialog-42", "Enter the TAN"):
            assert secret not in message.as_string()
        assert "sent to alice" in metadata["pending_auth_mail"]
        assert (
            "bob: the server refused refuse-bob@example.org: 550" in metadata["pending_auth_mail"]
        )
        assert states(world.engine)[bob][0] == "pending_auth"

        # A re-run of the day finds nobody new waiting: no second mail.
        smtp.reset()
        again = materialize(world.url, world.key_file, "2024-01-15", instance)
        assert again.success and smtp.messages() == []
        assert "pending_auth_mail" not in _metadata(again)


def test_unreachable_mail_server_never_fails_the_sync(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_2fa": 1, "fake_ok": 1})
    with world.engine.begin() as connection:
        connection.execute(update(users_table).values(email="alice@example.org"))
    monkeypatch.setenv("WEALTH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WEALTH_SMTP_PORT", "9")  # nothing listens
    monkeypatch.setenv("WEALTH_SMTP_SECURITY", "none")
    monkeypatch.setenv("WEALTH_SMTP_PASSWORD", "smtp-secret-13579")
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(world.url, world.key_file, "2024-01-15", instance)
        assert result.success
        metadata = _metadata(result)
        assert metadata["accounts_synced"] == 1 and metadata["accounts_pending_auth"] == 1
        assert "alice: cannot reach the SMTP server 127.0.0.1:9" in metadata["pending_auth_mail"]
        logs = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
        assert "smtp-secret-13579" not in logs and "smtp-secret-13579" not in repr(metadata)
    assert len(snapshot_rows(world.engine)) == 1


def test_without_smtp_no_mail_is_sent_and_the_run_says_so(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_2fa": 1})
    monkeypatch.delenv("WEALTH_SMTP_HOST", raising=False)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(world.url, world.key_file, "2024-01-15", instance)
    assert "no SMTP server configured" in _metadata(result)["pending_auth_mail"]
    assert not (tmp_path / "home" / "outbox").exists()


# --- schedules on the shipped rates (the demo) and on a live source ---------------------------

BERLIN = ZoneInfo("Europe/Berlin")
EXCERPT_END = "2026-10-30"  # the last day of the ECB excerpt shipped in the package


def _sync_schedule_context(moment: datetime, instance: dg.DagsterInstance | None = None):
    schedule = build_daily_sync_schedule(running=True)
    definitions = dg.Definitions(
        assets=[sync_accounts, account_cash_flows, converted_snapshots], jobs=[daily_sync_job],
        schedules=[schedule],
        resources={"warehouse": WarehouseResource(database_url="sqlite://"), "sync": SyncResource()},
    )  # fmt: skip
    context = dg.build_schedule_context(
        scheduled_execution_time=moment,
        repository_def=definitions.get_repository_def(),
        instance=instance,
    )
    return schedule, context


@pytest.fixture
def shipped_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEALTH_FX_SOURCE", "WEALTH_ECB_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_demo_sync_schedule_syncs_the_demo_clock_day_once_then_says_why_it_waits(
    shipped_rates: None,
) -> None:
    moment = datetime(2026, 11, 30, 17, 30, tzinfo=BERLIN)  # a month after the excerpt ends
    with dg.instance_for_test() as instance:
        schedule, context = _sync_schedule_context(moment, instance)
        with context:  # closes the instance it opened from the reference
            [request] = schedule.evaluate_tick(context).run_requests
        assert request.partition_key == EXCERPT_END  # the demo's today, never a day without rates
        assert request.run_key == f"daily_sync:{EXCERPT_END}"
        # the daemon launched it (a run carrying its run key), and the next evening:
        instance.add_run(
            dg.DagsterRun(job_name=daily_sync_job.name, run_id="demo-run-1",
                          tags={"dagster/run_key": request.run_key})
        )  # fmt: skip
        schedule, context = _sync_schedule_context(
            datetime(2026, 12, 1, 17, 30, tzinfo=BERLIN), instance
        )
        with context:
            result = schedule.evaluate_tick(context)
        assert not result.run_requests
        assert f"end on {EXCERPT_END}" in result.skip_message
        assert "demo-run-1" in result.skip_message and "WEALTH_FX_SOURCE" in result.skip_message


def test_sync_schedule_on_a_live_source_syncs_the_berlin_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEALTH_FX_SOURCE", "frankfurter")
    schedule, context = _sync_schedule_context(datetime(2026, 11, 30, 17, 30, tzinfo=BERLIN))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-30"


def test_sync_schedule_within_the_excerpt_syncs_its_day(shipped_rates: None) -> None:
    schedule, context = _sync_schedule_context(datetime(2026, 10, 30, 17, 30, tzinfo=BERLIN))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-10-30"


# --- no credential in the warehouse, Dagster's event log or its compute logs ------------------


def test_no_credential_in_dump_event_log_or_compute_logs(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run on a real instance (DAGSTER_HOME with a LocalComputeLogManager): every file the
    compute log manager captured (the run's stdout and stderr), every event, every table."""
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    from tests.support.sync import broker_account
    from wealth_pipeline.security.vault import unlock
    from wealth_pipeline.warehouse.schema import metadata as warehouse_metadata

    world = make_world(warehouse_url, tmp_path, monkeypatch, MIXED)
    with world.engine.connect() as connection:
        unlocked = unlock(connection, "alice", PASSWORD)
    broker_account(world.engine, world.owner, unlocked, "fake_ok", "wrongpin", pin="bad-pin-777")
    home = tmp_path / "dagster_home"
    logs_dir = tmp_path / "compute_logs"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "compute_logs:\n"
        "  module: dagster._core.storage.local_compute_log_manager\n"
        "  class: LocalComputeLogManager\n"
        f"  config:\n    base_dir: {logs_dir}\n"
        "telemetry:\n  enabled: false\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    secrets = (PIN, "bad-pin-777", PASSWORD, TAN, "dialog-42", "runs:1", "runs:2")
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.compute_log_manager, LocalComputeLogManager)
        result = materialize(world.url, world.key_file, "2024-01-15", instance)
        assert result.success
        events = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        events += repr(run.run_config) + repr(run.tags)
    captured = {
        path: path.read_text(errors="replace") for path in logs_dir.rglob("*") if path.is_file()
    }
    text = "\n".join(captured.values())
    # the capture worked: the run's own log lines are in the files
    assert any(path.suffix == ".err" for path in captured), sorted(captured)
    assert "waits for its owner (not failed)" in text and "authentication failed" in text
    dump = []
    with world.engine.connect() as connection:
        for table in warehouse_metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in connection.execute(select(table)))
    for secret in secrets:
        assert secret not in text, f"{secret!r} in the compute logs"
        assert secret not in events, f"{secret!r} in the event log"
        assert secret not in "\n".join(dump), f"{secret!r} in the warehouse"


def test_two_factor_pause_completed_in_another_process_then_converted_when_rates_arrive(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unattended run pauses here; `wealth accounts auth` runs as its own process (it only
    has the database and the user's password); `converted_snapshots` then converts the day
    once its rates arrive (its automation condition), without syncing anything again."""
    import os
    import subprocess
    import sys

    from tests.support.automation import Automation, convert_days, rates_arrived
    from wealth_pipeline.warehouse.schema import exchange_rates

    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_2fa": 1})
    [account_id] = world.accounts["fake_2fa"]
    assert [o.status for o in run_sync(world.engine, SYNC_DAY, settings=settings()).outcomes] == [
        "pending_auth"
    ]
    code = (
        "import sys, tests.support.sync  # registers the fake brokers\n"
        "from wealth_pipeline.cli import main\n"
        "sys.exit(main())"
    )
    env = {**os.environ, "TEST_SYNC_PASSWORD": PASSWORD}
    done = subprocess.run(
        [sys.executable, "-c", code, "accounts", "auth", str(account_id), "--user", "alice",
         "--password-env", "TEST_SYNC_PASSWORD"],
        input=f"{TAN}\n", capture_output=True, text=True, timeout=120, env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Resuming the paused login" in done.stdout and "anew" not in done.stdout
    for secret in (TAN, PIN, PASSWORD, "dialog-42"):
        assert secret not in done.stdout + done.stderr
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    assert states(world.engine, today)[account_id][0] == "success"
    assert account_status(world.engine, account_id) == ("active", None)
    assert "tan_dialog" not in session_purposes(world.engine, account_id)
    with world.engine.connect() as connection:
        row = connection.execute(
            select(snapshots_table).where(snapshots_table.c.snapshot_date == today)
        ).one()
    assert row.balance_base_currency is None and "no ECB rate" in row.conversion_note

    with dg.instance_for_test() as instance:
        automation = Automation(instance, datetime.now(BERLIN))
        assert automation.tick() == {}  # today's rates are not there yet
        with world.engine.begin() as connection:
            connection.execute(
                exchange_rates.insert(),
                [
                    {"base_currency": "EUR", "quote_currency": code, "rate_date": today,
                     "rate": Decimal(rate), "source": "test"}
                    for code, rate in (("USD", "1.0500"), ("CHF", "0.9300"))
                ],
            )  # fmt: skip
        rates_arrived(instance, today.isoformat())
        requested = automation.tick()
        assert requested == {"converted_snapshots": [today.isoformat()]}
        assert convert_days(instance, world.url, requested["converted_snapshots"]).success
    with world.engine.connect() as connection:
        row = connection.execute(
            select(snapshots_table).where(snapshots_table.c.snapshot_date == today)
        ).one()
    # 1000 + day-of-month USD at 0.93 / 1.05 CHF per USD, half-even to 4 places
    rate = Decimal("0.885714285714")
    assert (row.base_currency, row.exchange_rate_used, row.conversion_note) == ("CHF", rate, None)
    assert row.balance_base_currency == (row.balance * rate).quantize(Decimal("0.0001"))
    assert states(world.engine, today)[account_id][2] == 1  # the day was not synced again
