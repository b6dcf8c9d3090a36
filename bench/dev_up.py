"""Benchmark: `scripts/dev up` on a fresh clone, install excluded, to the UI showing the demo.

    .venv/bin/python -m bench.dev_up                 # offline (WEALTH_OFFLINE=true), 1 round
    .venv/bin/python -m bench.dev_up --rounds 3

It clones the repository's HEAD into a temporary folder and runs there, with a fresh
WEALTH_HOME, exactly the steps `scripts/dev up` runs after its install (`wealth init`,
`wealth demo setup`, `dagster dev -w workspace.yaml`), with the clone's code first on the path
and this virtualenv's packages (the install is what is excluded). The clock stops when the UI
answers that `account_balances`, `converted_snapshots` and `mart_net_worth_daily` are materialized (the GraphQL
query the asset pages make), i.e. when a person's first page shows the demo.

The floor, measured in the same run: `dagster dev` alone on an empty WEALTH_HOME until its UI
answers (what no set-up work can beat). Everything is removed at the end. Offline by
default: the only live source (Frankfurter, for rates after the shipped excerpt) is not asked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fakes.server import free_port  # noqa: E402

BIN = Path(sys.executable).parent
QUERY = """
query Materialized($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) { assetKey { path } assetMaterializations(limit: 1) { timestamp } }
}
"""
SHOWN = ["account_balances", "converted_snapshots", "mart_net_worth_daily"]


def materialized(url: str) -> bool:
    """Whether the UI's GraphQL says every asset of SHOWN has a materialization."""
    body = json.dumps(
        {"query": QUERY, "variables": {"keys": [{"path": [key]} for key in SHOWN]}}
    ).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            nodes = json.load(answer)["data"]["assetNodes"]
    except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
        return False
    return len(nodes) == len(SHOWN) and all(node["assetMaterializations"] for node in nodes)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def environment(clone: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEALTH_", "DAGSTER_"))}
    env.update(
        WEALTH_HOME=str(home),
        WEALTH_OFFLINE=os.environ.get("WEALTH_OFFLINE", "true"),
        PYTHONPATH=str(clone),  # the clone's code, this virtualenv's packages
        PATH=f"{BIN}:{env.get('PATH', '')}",
    )
    return env


def until_ui(clone: Path, env: dict[str, str], ready, started: float) -> float:
    """Start `dagster dev` (as scripts/dev does) and return the seconds until `ready(url)`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**env, "DAGSTER_HOME": str(Path(env["WEALTH_HOME"]) / "dagster")}
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    yaml = Path(env["DAGSTER_HOME"]) / "dagster.yaml"
    if not yaml.exists():
        yaml.write_text("telemetry:\n  enabled: false\n")
    process = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=clone,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not ready(url):
            if process.poll() is not None:
                raise SystemExit("dagster dev exited early")
            if time.monotonic() - started > 600:
                raise SystemExit("the UI did not come up within 10 minutes")
            time.sleep(0.5)
        return time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def one_round(clone: Path, scratch: Path, index: int) -> dict[str, float]:
    home = scratch / f"home-{index}"
    env = environment(clone, home)
    started = time.monotonic()
    for args in (["init"], ["demo", "setup"]):
        subprocess.run(
            [str(BIN / "wealth"), *args], cwd=clone, env=env, check=True, capture_output=True
        )
    setup = time.monotonic() - started
    total = until_ui(clone, env, materialized, started)
    floor_env = environment(clone, scratch / f"empty-{index}")
    floor = until_ui(clone, floor_env, answers, time.monotonic())
    return {"setup_s": setup, "up_to_ui_s": total, "floor_ui_only_s": floor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-dev-up-"))
    try:
        clone = scratch / "clone"
        subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", str(clone)], check=True
        )
        rounds = []
        for index in range(args.rounds):
            print(f"round {index + 1} ...", file=sys.stderr)
            rounds.append(one_round(clone, scratch, index))
        for key in ("setup_s", "up_to_ui_s", "floor_ui_only_s"):
            values = [r[key] for r in rounds]
            print(
                f"{key:>16}: median {statistics.median(values):6.1f} s  ({', '.join(f'{v:.1f}' for v in values)})"
            )
        load = os.getloadavg()[0]
        print(f"{'load (1 min)':>16}: {load:.2f} at the end")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
