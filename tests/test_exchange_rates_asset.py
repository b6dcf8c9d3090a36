"""The `exchange_rates` asset, its day classification, and the daily refresh schedule.

Materializations run for real (`dagster.materialize`) against the ECB sample file or the
fake Frankfurter server, writing into both warehouse backends; expectations come from the
sample file read here with the csv module.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from sqlalchemy import select

from tests.support.data import ECB_SAMPLE
from tests.support.fakes.frankfurter import FakeFrankfurter, Fault
from tests.support.fakes.server import free_port
from wealth_pipeline.fx.assets import (
    REFRESH_DAYS,
    build_exchange_rates_schedule,
    classify_days,
    exchange_rates,
    exchange_rates_job,
    refresh_window,
)
from wealth_pipeline.fx.published import PublishedRates
from wealth_pipeline.fx.sources import (
    EcbFileRates,
    ExcerptThenLive,
    FrankfurterRates,
    RatesSource,
)
from wealth_pipeline.partitions import daily_partitions
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import exchange_rates as rates_table

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
BERLIN = ZoneInfo("Europe/Berlin")


def _read_sample() -> dict[date, dict[str, Decimal]]:
    with ECB_SAMPLE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    return {
        date.fromisoformat(row[0]): {
            code: Decimal(cell)
            for code, cell in zip(header[1:], row[1:], strict=False)
            if code and cell not in ("", "N/A")
        }
        for row in rows[1:]
        if row
    }


SAMPLE = _read_sample()


def days_between(start: str, end: str) -> list[date]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def sample_rows(start: str, end: str, source: str = "ecb_file") -> list[tuple]:
    """The rows a run over [start, end] should leave, as `stored_rows` lists them."""
    return sorted(
        (day, "EUR", code, rate, source)
        for day in days_between(start, end)
        for code, rate in SAMPLE.get(day, {}).items()
    )


def ecb_file() -> EcbFileRates:
    return EcbFileRates(location=str(ECB_SAMPLE))


def frankfurter_rates(server: FakeFrankfurter) -> FrankfurterRates:
    return FrankfurterRates(
        base_url=server.url, backoff_seconds=0.01, timeout_seconds=1, max_attempts=2
    )


def run(
    warehouse_url: str,
    start: str,
    end: str | None = None,
    *,
    source: RatesSource | None = None,
    raise_on_error: bool = True,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `exchange_rates` for one partition, or a range as one run."""
    resources = {
        "fx_source": source or ecb_file(),
        "warehouse": WarehouseResource(database_url=warehouse_url),
    }
    if end is None:
        return dg.materialize(
            [exchange_rates],
            resources=resources,
            partition_key=start,
            raise_on_error=raise_on_error,
            instance=instance,
        )
    return dg.materialize(
        [exchange_rates],
        resources=resources,
        tags={RANGE_START: start, RANGE_END: end},
        raise_on_error=raise_on_error,
        instance=instance,
    )


def stored_rows(warehouse_url: str) -> list[tuple]:
    """Every stored rate, all columns but the surrogate id and the fetch time."""
    t = rates_table
    with get_engine(warehouse_url).connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    t.c.rate_date, t.c.base_currency, t.c.quote_currency, t.c.rate, t.c.source
                ).order_by(t.c.rate_date, t.c.base_currency, t.c.quote_currency)
            )
        ]


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    """The metadata values of the run's (first) materialization."""
    event = result.get_asset_materialization_events()[0]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def failure(result: dg.ExecuteInProcessResult) -> tuple[str, dict]:
    """The step failure's message (with its causes) and its user metadata."""
    assert not result.success
    [event] = [e for e in result.all_node_events if e.is_step_failure]
    data = event.step_failure_data
    messages, error = [], data.error
    while error is not None:
        messages.append(error.message)
        error = error.cause
    user = data.user_failure_data
    user_metadata = {k: v.value for k, v in user.metadata.items()} if user else {}
    return "\n".join(messages), user_metadata


# --- one day --------------------------------------------------------------------------


def test_weekday_partition_writes_each_published_currency_exactly(warehouse_url: str) -> None:
    day = date(2024, 1, 15)
    result = run(warehouse_url, "2024-01-15")
    assert result.success
    assert stored_rows(warehouse_url) == sample_rows("2024-01-15", "2024-01-15")
    assert len(SAMPLE[day]) == 30
    for _, _, _, rate, _ in stored_rows(warehouse_url):
        assert isinstance(rate, Decimal) and rate.as_tuple().exponent == -12

    [event] = result.get_asset_materialization_events()
    assert event.partition == "2024-01-15"
    meta = metadata(result)
    assert meta["dagster/row_count"] == 30
    assert meta["currencies"] == ", ".join(sorted(SAMPLE[day]))
    assert meta["currency_count"] == 30
    assert meta["source"] == f"ECB file {ECB_SAMPLE}"
    assert "no_publication" not in meta


@pytest.mark.parametrize(
    ("day", "why"),
    [
        ("2024-01-13", "weekend"),
        ("2024-01-14", "weekend"),
        ("2024-03-29", "TARGET holiday (Good Friday)"),
        ("2024-04-01", "TARGET holiday (Easter Monday)"),
        ("2023-12-25", "TARGET holiday (Christmas Day)"),
        ("2024-01-01", "TARGET holiday (New Year's Day)"),
    ],
)
def test_weekend_and_holiday_partitions_succeed_with_no_rows(
    warehouse_url: str, day: str, why: str
) -> None:
    result = run(warehouse_url, day)
    assert result.success
    assert [e.partition for e in result.get_asset_materialization_events()] == [day]
    assert stored_rows(warehouse_url) == []
    meta = metadata(result)
    assert meta["dagster/row_count"] == 0
    assert meta["no_publication"] == f"The ECB published nothing on: {day} ({why})"
    assert meta["currencies"] == "none"


def test_quiet_days_leave_the_neighbouring_days_alone(warehouse_url: str) -> None:
    run(warehouse_url, "2024-01-12")
    run(warehouse_url, "2024-01-15")
    before = stored_rows(warehouse_url)
    assert before == sample_rows("2024-01-12", "2024-01-15")
    assert run(warehouse_url, "2024-01-13", "2024-01-14").success
    assert stored_rows(warehouse_url) == before


# --- windows --------------------------------------------------------------------------


def test_a_month_is_one_run_materializing_every_partition(warehouse_url: str) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = run(warehouse_url, "2024-01-01", "2024-01-31", instance=instance)
    assert result.success

    keys = [d.isoformat() for d in days_between("2024-01-01", "2024-01-31")]
    assert len(instance.get_runs()) == 1
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events) == keys
    records = instance.fetch_materializations(exchange_rates.key, limit=100).records
    assert len(records) == len(keys)
    assert {record.run_id for record in records} == {result.run_id}
    assert instance.get_materialized_partitions(exchange_rates.key) == set(keys)

    published = [d for d in days_between("2024-01-01", "2024-01-31") if d in SAMPLE]
    assert len(published) == 22
    rows = stored_rows(warehouse_url)
    assert len(rows) == sum(len(SAMPLE[d]) for d in published) == 660
    assert rows == sample_rows("2024-01-01", "2024-01-31")

    # Each partition carries its own rows and currencies, never the run's totals.
    by_day = {
        event.partition: {k: v.value for k, v in event.materialization.metadata.items()}
        for event in events
    }
    for day in days_between("2024-01-01", "2024-01-31"):
        meta = by_day[day.isoformat()]
        assert meta["dagster/row_count"] == len(SAMPLE.get(day, {}))
        assert meta["currencies"] == (", ".join(sorted(SAMPLE[day])) if day in SAMPLE else "none")
    assert by_day["2024-01-06"]["dagster/row_count"] == 0  # a Saturday
    assert by_day["2024-01-06"]["no_publication"] == (
        "The ECB published nothing on: 2024-01-06 (weekend)"
    )
    assert by_day["2024-01-01"]["no_publication"] == (
        "The ECB published nothing on: 2024-01-01 (TARGET holiday (New Year's Day))"
    )
    assert by_day["2024-01-15"]["dagster/row_count"] == 30


def test_rerunning_a_window_leaves_identical_rows(warehouse_url: str) -> None:
    run(warehouse_url, "2024-01-02", "2024-01-05")
    assert run(warehouse_url, "2024-01-08", "2024-01-21").success
    first = stored_rows(warehouse_url)
    assert first == sample_rows("2024-01-02", "2024-01-21")
    assert run(warehouse_url, "2024-01-08", "2024-01-21").success
    assert stored_rows(warehouse_url) == first
    # A window overlapping both earlier runs changes nothing either.
    assert run(warehouse_url, "2024-01-04", "2024-01-10").success
    assert stored_rows(warehouse_url) == first


def test_a_run_replaces_rows_in_its_window(warehouse_url: str) -> None:
    """Whatever the window held before (a correction, a stale row) is replaced whole."""
    run(warehouse_url, "2024-01-15")
    t = rates_table
    with get_engine(warehouse_url).begin() as connection:
        connection.execute(
            t.update().where(t.c.quote_currency == "USD").values(rate=Decimal("9.999"))
        )
        connection.execute(
            t.insert().values(
                rate_date=date(2024, 1, 15), quote_currency="XAU", rate=Decimal("1"), source="test"
            )
        )
    assert run(warehouse_url, "2024-01-15").success
    assert stored_rows(warehouse_url) == sample_rows("2024-01-15", "2024-01-15")


# --- not published yet ------------------------------------------------------------------


def skipped(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Partition -> the reason the run skipped it (its observation)."""
    return {
        event.event_specific_data.asset_observation.partition: (
            event.event_specific_data.asset_observation.metadata["skipped"].value
        )
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    }


def test_business_day_without_rates_is_skipped_with_its_reason(warehouse_url: str) -> None:
    """Not a failure with a stack trace: the day is neither materialized nor failed, and
    says why; rows stored for it earlier are kept."""
    run(warehouse_url, "2026-10-26", "2026-10-30")
    before = stored_rows(warehouse_url)
    assert before == sample_rows("2026-10-26", "2026-10-30")

    result = run(warehouse_url, "2026-11-02")
    assert result.success
    assert result.get_asset_materialization_events() == []
    [(day, reason)] = skipped(result).items()
    assert day == "2026-11-02"
    assert "No ECB rates yet" in reason and "its latest day is 2026-10-30" in reason
    assert stored_rows(warehouse_url) == before

    # A window mixing published days with unpublished ones writes the published days.
    result = run(warehouse_url, "2026-10-26", "2026-11-03")
    assert result.success
    assert sorted(e.partition for e in result.get_asset_materialization_events()) == [
        "2026-10-26", "2026-10-27", "2026-10-28", "2026-10-29", "2026-10-30",
        "2026-10-31", "2026-11-01",
    ]  # fmt: skip
    assert sorted(skipped(result)) == ["2026-11-02", "2026-11-03"]
    assert stored_rows(warehouse_url) == before


def test_weekend_after_the_latest_day_is_still_quiet(warehouse_url: str) -> None:
    result = run(warehouse_url, "2026-10-30", "2026-11-01")
    assert result.success
    assert stored_rows(warehouse_url) == sample_rows("2026-10-30", "2026-10-30")


# --- from Frankfurter -----------------------------------------------------------------


def test_frankfurter_writes_the_same_rows_as_the_file(
    warehouse_url: str, frankfurter: FakeFrankfurter
) -> None:
    result = run(warehouse_url, "2024-03-25", "2024-04-05", source=frankfurter_rates(frankfurter))
    assert result.success
    assert stored_rows(warehouse_url) == sample_rows("2024-03-25", "2024-04-05", "frankfurter")
    assert len(frankfurter.requests) == 1
    by_day = {
        event.partition: {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }
    assert by_day["2024-03-25"]["source"] == f"Frankfurter at {frankfurter.url}"
    assert "2024-03-29 (TARGET holiday (Good Friday))" in by_day["2024-03-29"]["no_publication"]


def test_frankfurter_makes_one_request_per_calendar_year(
    warehouse_url: str, frankfurter: FakeFrankfurter
) -> None:
    result = run(warehouse_url, "2022-12-20", "2023-01-10", source=frankfurter_rates(frankfurter))
    assert result.success
    assert len(frankfurter.requests) == 2
    assert [r.split("?")[0].rsplit("/", 1)[-1] for r in frankfurter.requests] == [
        "2022-12-20..2022-12-31",
        "2023-01-01..2023-01-17",  # the last year looks a week ahead for the latest day
    ]
    assert stored_rows(warehouse_url) == sample_rows("2022-12-20", "2023-01-10", "frankfurter")

    # Looking ahead into the next year is still one request.
    frankfurter.reset()
    assert run(
        warehouse_url, "2022-12-27", "2022-12-30", source=frankfurter_rates(frankfurter)
    ).success
    assert len(frankfurter.requests) == 1


@pytest.mark.parametrize(
    ("faults", "says"),
    [
        ([Fault("garbage")], "not JSON"),
        ([Fault("truncate")], "not JSON"),
        ([Fault("status", 500), Fault("status", 500)], "gave up after 2 attempts"),
    ],
    ids=["garbage", "truncated", "exhausted-500s"],
)
def test_frankfurter_bad_answers_fail_and_keep_earlier_rows(
    warehouse_url: str, frankfurter: FakeFrankfurter, faults: list[Fault], says: str
) -> None:
    source = frankfurter_rates(frankfurter)
    assert run(warehouse_url, "2024-01-08", "2024-01-12", source=source).success
    before = stored_rows(warehouse_url)
    assert before == sample_rows("2024-01-08", "2024-01-12", "frankfurter")

    frankfurter.inject(*faults)
    result = run(warehouse_url, "2024-01-08", "2024-01-12", source=source, raise_on_error=False)
    message, _ = failure(result)
    assert says in message
    assert result.get_asset_materialization_events() == []
    assert stored_rows(warehouse_url) == before
    assert frankfurter.faults == []  # every fault was met (no more attempts than allowed)


def test_frankfurter_business_day_not_published_yet_is_skipped(
    warehouse_url: str, frankfurter: FakeFrankfurter
) -> None:
    result = run(warehouse_url, "2026-11-02", source=frankfurter_rates(frankfurter))
    assert result.success
    [(day, reason)] = skipped(result).items()
    assert day == "2026-11-02"
    assert "No ECB rates yet" in reason and "its latest day is 2026-10-30" in reason
    assert stored_rows(warehouse_url) == []


# --- the embedded default: the shipped excerpt, then a live source ----------------------


def excerpt_then(
    server_url: str, offline: bool = False, excerpt: Path = ECB_SAMPLE
) -> ExcerptThenLive:
    """The default source over the test sample (as its excerpt) and a local Frankfurter."""
    return ExcerptThenLive(
        excerpt=str(excerpt),
        base_url=server_url,
        offline=offline,
        backoff_seconds=0.01,
        timeout_seconds=1,
        max_attempts=2,
    )


def test_default_source_reads_the_excerpt_then_asks_frankfurter_for_later_days(
    warehouse_url: str, frankfurter: FakeFrankfurter, tmp_path: Path
) -> None:
    """The excerpt answers its days without a request; only later days go to the server."""
    excerpt = tmp_path / "excerpt.csv"  # the sample up to 2024-01-12 plays the shipped file
    lines = ECB_SAMPLE.read_text().splitlines()
    excerpt.write_text(
        "\n".join([lines[0], *(line for line in lines[1:] if line[:10] <= "2024-01-12")]) + "\n"
    )
    source = excerpt_then(frankfurter.url, excerpt=excerpt)
    result = run(warehouse_url, "2024-01-10", "2024-01-16", source=source)
    assert result.success
    assert [r.split("?")[0].rsplit("/", 1)[-1] for r in frankfurter.requests] == [
        "2024-01-13..2024-01-23"  # only the days after the excerpt (a week ahead: latest day)
    ]
    rows = stored_rows(warehouse_url)
    assert {row[4] for row in rows} == {"ecb_file+frankfurter"}
    assert [row[:4] for row in rows] == [row[:4] for row in sample_rows("2024-01-10", "2024-01-16")]


def test_default_source_offline_or_unreachable_skips_later_days_in_one_sentence(
    warehouse_url: str, frankfurter: FakeFrankfurter
) -> None:
    """WEALTH_OFFLINE never asks; a server that cannot be reached is no failure either: the
    excerpt's days are written and the later ones skipped, saying where rates stop."""
    result = run(
        warehouse_url, "2026-10-29", "2026-11-03", source=excerpt_then(frankfurter.url, True)
    )
    assert result.success and frankfurter.requests == []
    reasons = skipped(result)
    assert sorted(reasons) == ["2026-11-02", "2026-11-03"]
    assert "Rates stop on 2026-10-30" in reasons["2026-11-03"]
    assert "WEALTH_OFFLINE" in reasons["2026-11-03"]
    assert "Traceback" not in reasons["2026-11-03"]

    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: no network
    result = run(warehouse_url, "2026-10-29", "2026-11-03", source=excerpt_then(closed))
    assert result.success
    reason = skipped(result)["2026-11-03"]
    assert "Rates stop on 2026-10-30" in reason and "could not be reached" in reason
    assert "2026-10-30" in {e.partition for e in result.get_asset_materialization_events()}
    assert stored_rows(warehouse_url) == sample_rows("2026-10-29", "2026-10-30")


# --- classify_days --------------------------------------------------------------------


def published(
    days: list[str], latest: str | None, earliest: str | None = None, start: str = "2024-01-01"
) -> PublishedRates:
    rates = {date.fromisoformat(d): {"USD": Decimal("1.1")} for d in days}
    return PublishedRates(
        source="test",
        start=date.fromisoformat(start),
        end=max(rates, default=date.fromisoformat(start)),
        days=rates,
        latest_day=date.fromisoformat(latest) if latest else None,
        earliest_day=date.fromisoformat(earliest) if earliest else None,
        currencies=frozenset({"USD"}) if rates else frozenset(),
    )


def test_classify_published_weekend_and_holiday_days() -> None:
    window = [date(2024, 3, d) for d in (26, 27, 28, 29, 30, 31)] + [
        date(2024, 4, 1),
        date(2024, 4, 2),
    ]
    outcomes = classify_days(
        list(reversed(window)),  # any order in, sorted out
        published(
            ["2024-03-26", "2024-03-27", "2024-03-28", "2024-04-02"], "2024-04-10", "2024-03-01"
        ),
    )
    assert outcomes.published == [
        date(2024, 3, 26),
        date(2024, 3, 27),
        date(2024, 3, 28),
        date(2024, 4, 2),
    ]
    assert outcomes.quiet == {
        date(2024, 3, 29): "TARGET holiday (Good Friday)",
        date(2024, 3, 30): "weekend",
        date(2024, 3, 31): "weekend",
        date(2024, 4, 1): "TARGET holiday (Easter Monday)",
    }
    assert outcomes.missing == []


def test_classify_business_day_skipped_before_the_latest_day_is_quiet() -> None:
    """The ECB moved on without it: a real non-publication day, not a missing one."""
    outcomes = classify_days(
        [date(2024, 1, 15), date(2024, 1, 16), date(2024, 1, 17)],
        published(["2024-01-15", "2024-01-17"], "2024-01-17", "2024-01-02"),
    )
    assert outcomes.published == [date(2024, 1, 15), date(2024, 1, 17)]
    assert outcomes.quiet == {date(2024, 1, 16): "no ECB publication that day"}
    assert outcomes.missing == []


def test_classify_business_days_after_the_latest_day_are_missing() -> None:
    days = [
        date(2026, 10, 30),
        date(2026, 10, 31),
        date(2026, 11, 1),
        date(2026, 11, 2),
        date(2026, 11, 3),
    ]
    outcomes = classify_days(days, published(["2026-10-30"], "2026-10-30", "2026-10-01"))
    assert outcomes.published == [date(2026, 10, 30)]
    assert outcomes.quiet == {date(2026, 10, 31): "weekend", date(2026, 11, 1): "weekend"}
    assert outcomes.missing == [date(2026, 11, 2), date(2026, 11, 3)]


def test_classify_with_a_source_that_has_nothing() -> None:
    days = [date(2024, 1, 12), date(2024, 1, 13)]
    outcomes = classify_days(days, published([], None, None, start="2024-01-12"))
    assert outcomes.published == []
    assert outcomes.quiet == {date(2024, 1, 13): "weekend"}
    assert outcomes.missing == [date(2024, 1, 12)]


def test_classify_business_day_before_the_sources_first_day_is_missing() -> None:
    """A source that starts later does not cover the day: it is not a quiet day."""
    outcomes = classify_days(
        [date(2024, 1, 5), date(2024, 1, 8)], published(["2024-01-08"], "2024-01-31", "2024-01-08")
    )
    assert outcomes.missing == [date(2024, 1, 5)]
    assert outcomes.published == [date(2024, 1, 8)]


# --- the daily schedule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "first", "last"),
    [
        # 16:30 in Berlin, winter (UTC+1) and summer (UTC+2)
        (datetime(2024, 1, 15, 16, 30, tzinfo=BERLIN), "2024-01-09", "2024-01-15"),
        (datetime(2024, 7, 1, 16, 30, tzinfo=BERLIN), "2024-06-25", "2024-07-01"),
        # just after midnight in Berlin, still the previous day in UTC
        (datetime(2024, 1, 14, 23, 30, tzinfo=UTC), "2024-01-09", "2024-01-15"),
        (datetime(2024, 6, 30, 22, 30, tzinfo=UTC), "2024-06-25", "2024-07-01"),
        # a minute before midnight in Berlin: still that day
        (datetime(2024, 1, 15, 22, 59, tzinfo=UTC), "2024-01-09", "2024-01-15"),
        # any zone: 18:30 in New York is 00:30 the next day in Berlin
        (
            datetime(2024, 1, 15, 18, 30, tzinfo=ZoneInfo("America/New_York")),
            "2024-01-10",
            "2024-01-16",
        ),
        # across the year boundary
        (datetime(2024, 1, 2, 16, 30, tzinfo=BERLIN), "2023-12-27", "2024-01-02"),
    ],
)
def test_refresh_window_is_the_last_seven_berlin_days(
    when: datetime, first: str, last: str
) -> None:
    assert refresh_window(when) == (first, last)
    assert (date.fromisoformat(last) - date.fromisoformat(first)).days == REFRESH_DAYS - 1


@pytest.mark.parametrize("running", [True, False])
def test_schedule_requests_the_window_as_one_run(running: bool) -> None:
    schedule = build_exchange_rates_schedule(running=running)
    assert schedule.name == "exchange_rates_daily"
    assert schedule.job_name == exchange_rates_job.name == "exchange_rates_job"
    assert schedule.cron_schedule == "30 16 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    expected = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    assert schedule.default_status == expected

    # 00:30 in Berlin on the 15th is 23:30 UTC on the 14th: the Berlin day counts.
    when = datetime(2024, 1, 14, 23, 30, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.run_key == "exchange_rates:2024-01-09..2024-01-15"
    assert request.tags[RANGE_START] == "2024-01-09"
    assert request.tags[RANGE_END] == "2024-01-15"
    assert request.partition_key is None  # a range, not one partition
    keys = daily_partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange(request.tags[RANGE_START], request.tags[RANGE_END])
    )
    assert len(keys) == REFRESH_DAYS

    # The same Berlin day gives the same window and key. Dagster keeps a schedule's run key
    # unique within one tick (a tick retried after a daemon crash launches nothing twice);
    # a second tick the same day refreshes again, which a window replaced whole allows.
    later = dg.build_schedule_context(
        scheduled_execution_time=datetime(2024, 1, 15, 16, 30, tzinfo=BERLIN)
    )
    [again] = schedule.evaluate_tick(later).run_requests
    assert again.run_key == request.run_key


def test_the_schedules_window_is_today_at_the_latest() -> None:
    """The window ends on the Berlin day the schedule runs, which `end_offset=1` makes exist."""
    now = datetime.now(BERLIN)
    first, last = refresh_window(now)
    assert last == now.date().isoformat()
    assert last in daily_partitions.get_partition_keys()
    assert first in daily_partitions.get_partition_keys()


# --- the shipped excerpt never grows: the schedule skips, saying why, what it cannot have -------


@pytest.fixture
def shipped_excerpt(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEALTH_FX_SOURCE", "WEALTH_ECB_FILE"):
        monkeypatch.delenv(name, raising=False)


def _tick(when: datetime):
    schedule = build_exchange_rates_schedule(running=True)
    return schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when))


def test_schedule_skips_days_after_the_shipped_excerpt(shipped_excerpt: None) -> None:
    result = _tick(datetime(2026, 11, 30, 16, 30, tzinfo=BERLIN))
    assert not result.run_requests
    assert "ends on 2026-10-30" in result.skip_message
    assert "2026-11-24..2026-11-30" in result.skip_message
    assert "WEALTH_FX_SOURCE=frankfurter" in result.skip_message


def test_schedule_asks_the_excerpt_only_for_days_it_can_have(shipped_excerpt: None) -> None:
    [request] = _tick(datetime(2026, 11, 2, 16, 30, tzinfo=BERLIN)).run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-10-27", "2026-10-30")
    [inside] = _tick(datetime(2026, 10, 30, 16, 30, tzinfo=BERLIN)).run_requests
    assert (inside.tags[RANGE_START], inside.tags[RANGE_END]) == ("2026-10-24", "2026-10-30")


def test_schedule_on_a_live_source_always_asks_for_the_last_seven_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEALTH_FX_SOURCE", "frankfurter")
    [request] = _tick(datetime(2026, 11, 30, 16, 30, tzinfo=BERLIN)).run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-11-24", "2026-11-30")


def test_only_the_shipped_excerpt_counts_as_static(
    shipped_excerpt: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wealth_pipeline.fx.sources import shipped_excerpt_end
    from wealth_pipeline.settings import load_settings

    assert shipped_excerpt_end(load_settings()) == date(2026, 10, 30)
    monkeypatch.setenv("WEALTH_ECB_FILE", str(ECB_SAMPLE))  # a file of your own may be refreshed
    monkeypatch.setenv("WEALTH_FX_SOURCE", "ecb_file")
    assert shipped_excerpt_end(load_settings()) is None
    monkeypatch.setenv("WEALTH_OFFLINE", "false")  # the default online: live after the excerpt
    monkeypatch.delenv("WEALTH_ECB_FILE")
    monkeypatch.delenv("WEALTH_FX_SOURCE")
    assert shipped_excerpt_end(load_settings()) is None
    monkeypatch.setenv("WEALTH_ECB_FILE", str(ECB_SAMPLE))
    monkeypatch.delenv("WEALTH_ECB_FILE")
    monkeypatch.setenv("WEALTH_FX_SOURCE", "frankfurter")
    assert shipped_excerpt_end(load_settings()) is None
