"""The history backfill job (run config, one account) and the new-account sensor (one
request per new account, ever), on SQLite and PostgreSQL."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from sqlalchemy import func, select, update

from tests.support import factories
from tests.support.history import demo, demo_account
from wealth_pipeline.history.backfill import backfill_history
from wealth_pipeline.history.jobs import (
    history_backfill_job,
    make_cursor,
    needs_backfill,
    new_account_history_sensor,
    parse_cursor,
    run_config,
)
from wealth_pipeline.sync.assets import SyncResource
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import account_snapshots, financial_accounts

TODAY = date(2024, 2, 29)


def test_needs_backfill_and_cursor() -> None:
    created = date(2024, 3, 1)
    assert needs_backfill(created, None)
    assert needs_backfill(created, date(2024, 2, 29))  # only the first daily sync
    assert not needs_backfill(created, date(2024, 1, 1))  # history already there
    assert parse_cursor(make_cursor([3, 1])) == {1, 3}
    assert parse_cursor(None) == set() and parse_cursor("garbage") == set()


@pytest.fixture
def warehouse(warehouse_url: str):
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        owner = factories.user(connection, "alice", "EUR")
    return engine, owner, WarehouseResource(database_url=warehouse_url)


def test_job_backfills_one_account_from_run_config(warehouse) -> None:
    engine, owner, resource = warehouse
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 4, 10))
    with engine.begin() as connection:
        account = demo_account(connection, owner, demo.SAVINGS)
    config = run_config(account, days=10)
    config["ops"]["backfill_account_history"]["config"]["today"] = TODAY.isoformat()
    result = history_backfill_job.execute_in_process(
        run_config=config,
        resources={"warehouse": resource, "sync": SyncResource()},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [materialized] = [
        event for event in result.all_events if event.event_type_value == "STEP_OUTPUT"
    ]
    metadata = materialized.event_specific_data.metadata
    assert metadata["snapshots_written"].value == 10 and metadata["converted"].value == 10
    with engine.connect() as connection:
        days = connection.execute(
            select(func.min(account_snapshots.c.snapshot_date), func.count()).where(
                account_snapshots.c.account_id == account
            )
        ).one()
    assert tuple(days) == (TODAY - timedelta(days=9), 10)

    failed = history_backfill_job.execute_in_process(
        run_config=run_config(987_654),
        resources={"warehouse": resource, "sync": SyncResource()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not failed.success


def evaluate(resource: WarehouseResource, cursor: str | None):
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources={"warehouse": resource, "sync": SyncResource()},
    )
    return new_account_history_sensor(context)


def test_sensor_fires_once_per_new_account(warehouse) -> None:
    engine, owner, resource = warehouse
    with engine.begin() as connection:
        first = demo_account(connection, owner, demo.CHECKING)
        factories.account(connection, owner.id, "dkb", "Giro")  # a FinTS bank: no history
    result = evaluate(resource, None)
    assert [r.run_key for r in result.run_requests] == [f"history_backfill:{first}"]
    request = result.run_requests[0]
    assert request.run_config == run_config(first)
    assert request.tags["account_id"] == str(first)

    again = evaluate(resource, result.cursor)
    assert again.run_requests == []

    with engine.begin() as connection:
        second = demo_account(connection, owner, demo.BROKERAGE)
        old = demo_account(connection, owner, demo.PILLAR_3A)
        # an account added long ago is not new; one already backfilled needs nothing
        connection.execute(
            update(financial_accounts)
            .where(financial_accounts.c.id == old)
            .values(created_at=datetime.now(ZoneInfo("UTC")) - timedelta(days=30))
        )
        filled = demo_account(connection, owner, demo.SAVINGS)
    backfill_history(engine, filled, days=5, today=TODAY)
    third = evaluate(resource, again.cursor)
    assert [r.run_key for r in third.run_requests] == [f"history_backfill:{second}"]
    assert evaluate(resource, third.cursor).run_requests == []
    assert parse_cursor(third.cursor) == {first, second}


def test_job_opens_credentials_with_the_worker_key(
    warehouse, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.factories import CHEAP
    from tests.support.history import HISTORY_SECRET, history_fake_account
    from wealth_pipeline.accounts import Owner
    from wealth_pipeline.security.sync_keys import (
        enable_auto_sync,
        generate_key_pair,
        load_public_key,
    )
    from wealth_pipeline.security.vault import create_user, unlock

    engine, _alice, resource = warehouse
    key_file = tmp_path / "keys" / "sync_key.pem"
    info = generate_key_pair(key_file)
    monkeypatch.setenv("WEALTH_SYNC_KEY_FILE", str(key_file))
    with engine.begin() as connection:
        user_id = create_user(connection, "dave", "dave's password", params=CHEAP)
    with engine.connect() as connection:
        unlocked = unlock(connection, "dave", "dave's password")
    with engine.begin() as connection:
        account = history_fake_account(connection, Owner(user_id, "dave", "EUR"), unlocked)

    # Without auto-sync the worker cannot open the credentials: no request, and a clear failure.
    assert evaluate(resource, None).run_requests == []
    config = run_config(account, days=7)
    config["ops"]["backfill_account_history"]["config"]["today"] = TODAY.isoformat()
    instance = dg.DagsterInstance.ephemeral()
    refused = history_backfill_job.execute_in_process(
        run_config=config, resources={"warehouse": resource, "sync": SyncResource()}, instance=instance,
        raise_on_error=False,
    )  # fmt: skip
    assert not refused.success

    with engine.begin() as connection:
        enable_auto_sync(connection, unlocked, load_public_key(info.public_key_path))
    assert [r.run_key for r in evaluate(resource, None).run_requests] == [
        f"history_backfill:{account}"
    ]
    result = history_backfill_job.execute_in_process(
        run_config=config,
        resources={"warehouse": resource, "sync": SyncResource()},
        instance=instance,
    )
    assert result.success
    logs = repr([event for event in instance.all_logs(result.run_id)])
    assert HISTORY_SECRET not in logs
    with engine.connect() as connection:
        written = connection.execute(
            select(func.count()).where(account_snapshots.c.account_id == account)
        ).scalar_one()
    assert written == 7
