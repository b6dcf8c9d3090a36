"""Benchmark: backfill the ECB's whole history (1999-01-04 .. its last day) on SQLite and PostgreSQL.

    .venv/bin/python -m bench.fx_backfill PATH/eurofxref-hist.zip [--backends sqlite,postgres]
        [--skip-dagster] [--postgres-url URL] [--rounds N] [--import-repeats N] [--json FILE]

A local fake Frankfurter server (tests/support/fakes/frankfurter.py) serves the given ECB file from
this process; every measurement runs in a fresh worker process of its own. Figures:

(a) the data path alone: `FrankfurterRates.fetch` + `classify_days` + `replace_rates` in one
    transaction, on a fresh, migrated warehouse; peak memory is the worker's max RSS.
(b) one single-run Dagster backfill of `exchange_rates` over the whole range on a persistent
    instance (temporary DAGSTER_HOME; dagster-postgres storage for PostgreSQL), beside the same
    instance's time for a do-nothing asset over the same partitions (Dagster's own floor).
(c) `python -c "import wealth_pipeline.definitions"` in fresh subprocesses: the median.

Scratch databases (bench_*) and temporary directories are removed at the end, also when the
run fails or is stopped (Ctrl-C, SIGTERM from `timeout`).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # also runnable as `python bench/fx_backfill.py`
    sys.path.insert(0, str(REPO))

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIRST_DAY = date(1999, 1, 4)
TARGET_REQUESTS = 30
TARGET_DATA_SECONDS = 10.0
TARGET_RATIO = 1.25
TARGET_IMPORT_SECONDS = 2.0
FLOOR_ASSET = "bench_partition_floor"
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- scratch resources ----------------------------------------------------------------------


class Scratch:
    """Temporary directories and PostgreSQL databases, all removed by `cleanup()`."""

    def __init__(self, postgres_url: str) -> None:
        self.postgres_url = postgres_url
        self.tag = uuid.uuid4().hex[:8]
        self.root = Path(tempfile.mkdtemp(prefix="bench_fx_backfill_"))
        self.databases: list[str] = []
        self._admin = None

    def directory(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True)
        return path

    def admin(self):
        from sqlalchemy import create_engine

        if self._admin is None:
            self._admin = create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        return self._admin

    def check_postgres(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        try:
            with self.admin().connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            shown = make_url(self.postgres_url).render_as_string(hide_password=True)
            raise SystemExit(f"PostgreSQL at {shown} is unreachable: {exc}") from None

    def postgres_database(self, purpose: str) -> str:
        """Create an empty database `bench_<purpose>_<tag>`; return its name."""
        from sqlalchemy import text

        name = f"bench_{purpose}_{self.tag}"
        with self.admin().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.databases.append(name)
        return name

    def warehouse_url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` (same server and driver as the admin URL)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.postgres_url).set(database=database)
        return url.render_as_string(hide_password=False)

    def dagster_url(self, database: str) -> str:
        """The psycopg2 URL dagster-postgres needs for `database`.

        The driver must be explicit: SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3,
        on which dagster-postgres's `NOTIFY run_events, :notify_id` fails to run.
        """
        from sqlalchemy.engine import make_url

        url = make_url(self.postgres_url).set(drivername="postgresql+psycopg2", database=database)
        return url.render_as_string(hide_password=False)

    def cleanup(self) -> None:
        from sqlalchemy import text

        try:
            if self.databases:
                with self.admin().connect() as connection:
                    for name in self.databases:
                        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                self.databases.clear()
        finally:
            if self._admin is not None:
                self._admin.dispose()
            shutil.rmtree(self.root, ignore_errors=True)


def in_worker(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run `function(*args)` in a fresh (spawned) process and return its answer.

    If the benchmark is interrupted meanwhile, the worker is terminated, not waited for.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_worker_main, args=(sender, function, args), daemon=True)
    process.start()
    sender.close()
    try:
        ok, answer = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"the worker died (exit code {process.exitcode})") from None
    except BaseException:  # interrupted: stop the worker now
        process.terminate()
        process.join()
        raise
    finally:
        receiver.close()
    process.join()
    if not ok:
        raise RuntimeError(f"the worker failed:\n{answer}")
    # Other work on the machine skews the figures: keep the load averages seen at the end.
    answer["load_average"] = os.getloadavg()
    return answer


def _worker_main(sender: Any, function: Callable[..., dict[str, Any]], args: tuple) -> None:
    try:
        sender.send((True, function(*args)))
    except BaseException:
        sender.send((False, traceback.format_exc()))
    finally:
        sender.close()


def max_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- (a) the data path ----------------------------------------------------------------------


def data_path_worker(fake_url: str, warehouse_url: str, start: date, end: date) -> dict[str, Any]:
    """Fetch, classify and store [start, end] once; runs in its own process."""
    from sqlalchemy import select

    from wealth_pipeline.fx.assets import classify_days
    from wealth_pipeline.fx.sources import FrankfurterRates
    from wealth_pipeline.fx.store import replace_rates
    from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
    from wealth_pipeline.warehouse.schema import exchange_rates

    engine = get_engine(warehouse_url)  # created and migrated before the clock starts
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    rss_before = max_rss_mib()

    began = time.perf_counter()
    published = FrankfurterRates(base_url=fake_url).fetch(start, end)
    fetched = time.perf_counter()
    outcomes = classify_days(days, published)
    classified = time.perf_counter()
    with engine.begin() as connection:
        rows = replace_rates(connection, published)
    stored = time.perf_counter()
    rss_peak = max_rss_mib()

    # Every value read back equals the exact Decimal published (outside the clock).
    table = exchange_rates
    query = select(table.c.rate_date, table.c.quote_currency, table.c.rate)
    with engine.connect() as connection:
        read_back = {(day, code): rate for day, code, rate in connection.execute(query)}
    expected = {
        (day, code): rate for day, rates in published.days.items() for code, rate in rates.items()
    }
    verified = read_back == expected
    dispose_engines()
    return {
        "rows": rows,
        "seconds": stored - began,
        "fetch_seconds": fetched - began,
        "classify_seconds": classified - fetched,
        "store_seconds": stored - classified,
        "rss_before_mib": rss_before,
        "rss_peak_mib": rss_peak,
        "days_published": len(outcomes.published),
        "days_quiet": len(outcomes.quiet),
        "days_missing": len(outcomes.missing),
        "verified": verified,
    }


# --- (b) the Dagster backfill ---------------------------------------------------------------


def write_dagster_yaml(home: Path, postgres_url: str | None) -> None:
    lines = ["telemetry:", "  enabled: false"]
    if postgres_url:
        lines += ["storage:", "  postgres:", f"    postgres_url: {json.dumps(postgres_url)}"]
    (home / "dagster.yaml").write_text("\n".join(lines) + "\n")


def floor_asset():
    """A do-nothing asset with the same partitions and backfill policy as `exchange_rates`."""
    import dagster as dg

    from wealth_pipeline.partitions import daily_partitions

    @dg.asset(
        name=FLOOR_ASSET,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _floor() -> None:
        return None

    return _floor


def dagster_worker(
    which: str, dagster_home: str, fake_url: str, warehouse_url: str, start: date, end: date
) -> dict[str, Any]:
    """One single-run backfill of [start, end] (`which`: "floor" or "exchange_rates")."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.CRITICAL)
    os.environ["DAGSTER_HOME"] = dagster_home

    import dagster as dg
    from sqlalchemy import func, select

    from wealth_pipeline.fx.assets import exchange_rates
    from wealth_pipeline.fx.sources import FrankfurterRates
    from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
    from wealth_pipeline.warehouse.resource import WarehouseResource
    from wealth_pipeline.warehouse.schema import exchange_rates as rates_table

    instance = dg.DagsterInstance.get()
    if which == "floor":
        asset, resources = floor_asset(), {}
    else:
        asset = exchange_rates
        resources = {
            "fx_source": FrankfurterRates(base_url=fake_url),
            "warehouse": WarehouseResource(database_url=warehouse_url),
        }
    tags = {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }
    began = time.perf_counter()
    result = dg.materialize(
        [asset], instance=instance, resources=resources, tags=tags, run_config=QUIET_RUN_CONFIG
    )
    seconds = time.perf_counter() - began

    key = asset.key
    materialized = len(instance.get_materialized_partitions(key))
    answer: dict[str, Any] = {
        "seconds": seconds,
        "success": result.success,
        "partitions_materialized": materialized,
        "rss_peak_mib": max_rss_mib(),
    }
    if which != "floor":
        with get_engine(warehouse_url).connect() as connection:
            answer["rows"] = connection.execute(
                select(func.count()).select_from(rates_table)
            ).scalar()
        dispose_engines()
    instance.dispose()
    return answer


# --- (c) import time ------------------------------------------------------------------------


def import_times(repeats: int) -> dict[str, Any]:
    command = [sys.executable, "-c", "import wealth_pipeline.definitions"]

    def once() -> float:
        began = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        return time.perf_counter() - began

    warmup = once()  # byte-compiles what is stale; not counted
    times = [once() for _ in range(repeats)]
    return {
        "warmup_seconds": warmup,
        "seconds": times,
        "median_seconds": statistics.median(times),
        "load_average": os.getloadavg(),
    }


# --- the run --------------------------------------------------------------------------------


def bench_backend(
    backend: str,
    fake: Any,
    scratch: Scratch,
    start: date,
    end: date,
    skip_dagster: bool,
    rounds: int,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"backend": backend}

    def warehouse(purpose: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{scratch.directory(f'{backend}_{purpose}') / 'warehouse.sqlite'}"
        return scratch.warehouse_url(scratch.postgres_database(f"{purpose}_wh"))

    progress(f"{backend}: (a) data path")
    fake.reset()
    data = in_worker(data_path_worker, fake.url, warehouse("data_path"), start, end)
    data["requests"] = len(fake.requests)
    figures["data_path"] = data

    if skip_dagster:
        return figures
    home = scratch.directory(f"{backend}_dagster_home")
    storage = (
        None if backend == "sqlite" else scratch.dagster_url(scratch.postgres_database("dagster"))
    )
    write_dagster_yaml(home, storage)
    results = []
    for number in range(1, rounds + 1):
        # Odd rounds run the floor first, even rounds exchange_rates first; each round writes
        # to a fresh warehouse, all of them to the same Dagster instance.
        order = ("floor", "exchange_rates") if number % 2 else ("exchange_rates", "floor")
        warehouse_url = warehouse(f"backfill{number}")
        answers: dict[str, Any] = {"order": " then ".join(order)}
        for which in order:
            progress(f"{backend}: (b) round {number}/{rounds}: {which} (takes minutes)")
            fake.reset()
            answers[which] = in_worker(
                dagster_worker, which, str(home), fake.url, warehouse_url, start, end
            )
            answers[which]["requests"] = len(fake.requests)
            progress(f"{backend}: (b) {which}: {answers[which]['seconds']:.1f} s")
        answers["ratio"] = answers["exchange_rates"]["seconds"] / answers["floor"]["seconds"]
        results.append(answers)
    real = statistics.median(r["exchange_rates"]["seconds"] for r in results)
    floor = statistics.median(r["floor"]["seconds"] for r in results)
    figures["dagster"] = {
        "rounds": results,
        "exchange_rates_seconds": real,
        "floor_seconds": floor,
        "ratio": real / floor,
    }
    return figures


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def render_table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Columns padded to width: the first `left` aligned left, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(cell).ljust(width) if index < left else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def report(results: dict[str, Any]) -> str:
    out = [
        f"ECB history {results['start']} .. {results['end']}: {results['partitions']} daily "
        f"partitions, {results['ecb_days']} ECB days; {results['machine']}",
        "",
        f"(a) data path: fetch + classify_days + replace_rates in one transaction "
        f"(targets: <= {TARGET_REQUESTS} requests, < {TARGET_DATA_SECONDS:.0f} s)",
        "    peak memory = getrusage(RUSAGE_SELF).ru_maxrss of the worker process that runs only "
        "the data path (the fake server runs in the parent); 'before' is its max RSS after "
        "imports and warehouse migration; load = os.getloadavg() after each measurement (2 cores: "
        "above ~2 means other work competed for the CPUs)",
    ]
    rows = []
    for figures in results["backends"]:
        data = figures["data_path"]
        rows.append(
            [
                figures["backend"],
                str(data["requests"]),
                f"{data['rows']:,}",
                f"{data['seconds']:.2f}",
                f"{data['fetch_seconds']:.2f}",
                f"{data['store_seconds']:.2f}",
                f"{data['rows'] / data['seconds']:,.0f}",
                f"{data['rss_peak_mib']:.0f}",
                f"{data['rss_before_mib']:.0f}",
                "yes" if data["verified"] and not data["days_missing"] else "NO",
                f"{data['load_average'][0]:.1f}",
                verdict(
                    data["requests"] <= TARGET_REQUESTS and data["seconds"] < TARGET_DATA_SECONDS
                ),
            ]
        )
    headers = [
        "backend",
        "requests",
        "rows",
        "seconds",
        "fetch s",
        "store s",
        "rows/s",
        "peak RSS MiB",
        "before MiB",
        "verified",
        "load 1m",
        "target",
    ]
    out += ["", render_table(headers, rows)]

    dagster_rows = []
    for figures in results["backends"]:
        runs = figures.get("dagster")
        if not runs:
            continue
        for number, answers in enumerate(runs["rounds"], start=1):
            real, floor = answers["exchange_rates"], answers["floor"]
            dagster_rows.append(
                [
                    figures["backend"],
                    f"{number}: {answers['order']}",
                    f"{real['partitions_materialized']:,}",
                    f"{real['seconds']:.1f}",
                    f"{floor['seconds']:.1f}",
                    f"{answers['ratio']:.3f}x",
                    str(real["requests"]),
                    f"{real.get('rows', 0):,}",
                    "yes" if real["success"] and floor["success"] else "NO",
                    f"{floor['load_average'][1]:.1f} / {real['load_average'][1]:.1f}",
                    "" if len(runs["rounds"]) > 1 else verdict(runs["ratio"] <= TARGET_RATIO),
                ]
            )
        if len(runs["rounds"]) > 1:
            fastest_real = min(r["exchange_rates"]["seconds"] for r in runs["rounds"])
            fastest_floor = min(r["floor"]["seconds"] for r in runs["rounds"])
            dagster_rows.append(
                [
                    figures["backend"],
                    "fastest of each",
                    "",
                    f"{fastest_real:.1f}",
                    f"{fastest_floor:.1f}",
                    f"{fastest_real / fastest_floor:.3f}x",
                    *[""] * 5,
                ]
            )
            dagster_rows.append(
                [
                    figures["backend"],
                    "median",
                    "",
                    f"{runs['exchange_rates_seconds']:.1f}",
                    f"{runs['floor_seconds']:.1f}",
                    f"{runs['ratio']:.3f}x",
                    *[""] * 4,
                    verdict(runs["ratio"] <= TARGET_RATIO),
                ]
            )
    if dagster_rows:
        out += [
            "",
            "(b) one single-run Dagster backfill of the whole range on a persistent instance "
            f"(target: <= {TARGET_RATIO}x the floor)",
            "    floor = a do-nothing asset, same partitions definition and backfill policy, "
            "same instance; load = 5-minute load average after the floor / exchange_rates run",
            "",
            render_table(
                [
                    "backend",
                    "round",
                    "partitions",
                    "exchange_rates s",
                    "floor s",
                    "ratio",
                    "requests",
                    "rows",
                    "success",
                    "load 5m",
                    "target",
                ],
                dagster_rows,
                left=2,
            ),
        ]

    imports = results["import"]
    out += [
        "",
        f"(c) python -c 'import wealth_pipeline.definitions', fresh subprocesses "
        f"(target: median < {TARGET_IMPORT_SECONDS:.0f} s)",
        "",
        render_table(
            ["repetitions", "median s", "min s", "max s", "warm-up s", "load 1m", "target"],
            [
                [
                    str(len(imports["seconds"])),
                    f"{imports['median_seconds']:.2f}",
                    f"{min(imports['seconds']):.2f}",
                    f"{max(imports['seconds']):.2f}",
                    f"{imports['warmup_seconds']:.2f}",
                    f"{imports['load_average'][0]:.1f}",
                    verdict(imports["median_seconds"] < TARGET_IMPORT_SECONDS),
                ]
            ],
        ),
    ]
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fx_backfill",
        description="Backfill the ECB's full history from a local fake Frankfurter server.",
    )
    parser.add_argument("ecb_file", type=Path, help="the ECB's eurofxref-hist.zip (or .csv)")
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default: both)",
    )
    parser.add_argument(
        "--skip-dagster", action="store_true", help="only the data path (a) and import time (c)"
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="admin URL used to create and drop the bench_* scratch databases "
        f"(default: {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--import-repeats", type=int, default=7, help="timed imports for (c) (default: 7)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="(b) runs of each asset, alternating which goes first; the ratio is of the "
        "medians (default: 1)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=FIRST_DAY,
        help=f"first day (default: {FIRST_DAY}, the ECB's first); for quick smoke runs",
    )
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        help="last day (default: the file's last ECB day); for quick smoke runs",
    )
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgres"}
    if unknown or not args.backends:
        parser.error(f"--backends takes sqlite and/or postgres, not {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.ecb_file.is_file():
        parser.error(f"no such file: {args.ecb_file}")
    return args


def _stop(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)  # e.g. from `timeout`: still clean up
    from tests.support.fakes.frankfurter import FakeFrankfurter

    progress(f"loading {args.ecb_file} into the fake Frankfurter server")
    fake = FakeFrankfurter.from_file(args.ecb_file).start()
    start, end = args.start, args.end or fake.days[-1]
    scratch = Scratch(args.postgres_url)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "partitions": (end - start).days + 1,
        "ecb_days": len([d for d in fake.days if start <= d <= end]),
        "backends": [],
    }
    try:
        if "postgres" in args.backends:
            scratch.check_postgres()
        for backend in args.backends:
            results["backends"].append(
                bench_backend(backend, fake, scratch, start, end, args.skip_dagster, args.rounds)
            )
        progress("(c) import time of wealth_pipeline.definitions")
        results["import"] = import_times(args.import_repeats)
    finally:
        fake.stop()
        scratch.cleanup()
    print(report(results), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
