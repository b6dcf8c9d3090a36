"""The README's "first ten minutes", walked as written on a fresh WEALTH_HOME.

The test reads the section's bash blocks from README.md and runs every line: `wealth ...`
through the real command line (in process), `wealth api &` as a real uvicorn server on a
free port of 127.0.0.1, `TOKEN=$(...)` capturing standard output only, `curl` as the same
HTTP request, and `ACCOUNT_ID` found the way the README says (the ID column of
`accounts list` for the account just added by name). A line it cannot walk fails the test,
so the README cannot drift from what works. Before the tour: what `scripts/dev up` does
before it starts the UI (`wealth init`, `wealth demo setup`), offline.
"""

from __future__ import annotations

import os
import re
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from tests.support.fakes.server import free_port
from wealth_pipeline.cli import main

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
DEMO_PASSWORD = "demo-password"  # the README names it


def tour_lines() -> list[str]:
    """The command lines of the README's "The first ten minutes", comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The first ten minutes", 1)[1].split("\n## ", 1)[0]
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if command:
                lines.append(command)
    return lines


class ApiServer:
    """`wealth api &`: the API app under uvicorn in a thread, on `port`."""

    def __init__(self, port: int) -> None:
        import uvicorn

        from wealth_pipeline.api import create_app

        config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, *, wait: bool = True) -> None:
        self.thread.start()
        if not wait:  # `&`: the shell goes on at once; `api token` waits for it
            return
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    for name in ("WEALTH_DATABASE_URL", "WEALTH_ECB_FILE", "WEALTH_FX_SOURCE",
                 "WEALTH_SYNC_KEY_FILE", "WEALTH_API_KEY_FILE", "WEALTH_API_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)  # fmt: skip
    monkeypatch.setenv("WEALTH_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # undone after the test
    monkeypatch.setenv("WEALTH_OFFLINE", "true")  # no connection beyond 127.0.0.1
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("WEALTH_API_PORT", str(free_port()))
    monkeypatch.chdir(tmp_path)
    yield home


def wealth(args: list[str]) -> Result:
    # Prompts get the demo's password (users create asks twice).
    result = CliRunner().invoke(main, args, input=f"{DEMO_PASSWORD}\n" * 3)
    assert result.exit_code == 0, f"wealth {shlex.join(args)}:\n{result.output}"
    return result


def account_id(listing: str, name: str) -> str:
    """The ID column of `accounts list` for the account called `name`."""
    for line in listing.splitlines()[1:]:
        if f"  {name}  " in line:
            return line.split()[0]
    raise AssertionError(f"{name!r} is not in:\n{listing}")


def test_the_first_ten_minutes_work_as_written(fresh_home: Path) -> None:
    lines = tour_lines()
    assert any(line.startswith("wealth summary") for line in lines)
    assert any(line.startswith("curl ") for line in lines)
    # What `scripts/dev up` does before the UI starts.
    wealth(["init"])
    wealth(["demo", "setup"])

    variables: dict[str, str] = {}
    outputs: dict[str, str] = {}
    added: str | None = None
    api: ApiServer | None = None
    port = int(os.environ["WEALTH_API_PORT"])
    try:
        for line in lines:
            if line == "source .venv/bin/activate":
                assert (ROOT / ".venv" / "bin" / "activate").is_file()
                assert (ROOT / ".venv" / "bin" / "wealth").is_file()
            elif line == "wealth api &":
                api = ApiServer(port)
                api.start(wait=False)
            elif line == "kill %1":
                assert api is not None
                api.stop()
                api = None
            elif match := re.fullmatch(r"(\w+)=\$\((wealth .*)\)", line):
                result = wealth(shlex.split(match.group(2))[1:])
                variables[match.group(1)] = result.stdout.strip()  # $(...) takes stdout only
            elif line.startswith("curl "):
                expanded = re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], line)
                words = shlex.split(expanded)
                headers = dict(
                    words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H"
                )
                url = words[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
                answer = httpx.get(url, headers=headers, timeout=30)
                assert answer.status_code == 200, answer.text
                outputs["curl"] = answer.text
            elif line.startswith("wealth"):
                args = shlex.split(line)[1:]
                if "ACCOUNT_ID" in args:
                    assert added is not None, "ACCOUNT_ID before an account was added"
                    listing = outputs["accounts list"]
                    args = [account_id(listing, added) if a == "ACCOUNT_ID" else a for a in args]
                result = wealth(args)
                outputs[" ".join(args[:2])] = result.output
                if args[:2] == ["accounts", "add"]:
                    added = args[args.index("--name") + 1]
                if args[:2] == ["dashboard", "link"]:
                    code = result.stdout.strip().rsplit("#code=", 1)[1]
                    signed = httpx.post(
                        f"http://127.0.0.1:{port}/api/session/", json={"code": code}, timeout=30
                    )
                    assert signed.status_code == 200, signed.text
                    assert signed.json()["user"]["username"] == "demo"
                if args[:2] == ["summary", "--user"]:
                    outputs[f"summary {args[2]}"] = result.output
            else:
                pytest.fail(f"the README's tour has a line this test cannot walk: {line}")
    finally:
        if api is not None:
            api.stop()

    # The dashboard's link works once, against the API the tour started.
    link = next(line for line in outputs["dashboard link"].splitlines() if "#code=" in line)
    assert link.startswith(f"http://127.0.0.1:{port}/signin#code="), link
    assert "dashboard link" in outputs and "api token" not in outputs["dashboard link"]
    demo = outputs["summary demo"]
    assert "demo: net worth €910,308.32" in demo and "Needs attention" in demo
    assert "Demo Brokerage Account" in demo and "$596,452.24" in demo
    # This year's split, as the weekly report words it: saved, markets, currencies, returns.
    year = demo.split("Where the change came from since ", 1)[1]
    total = next(line for line in year.splitlines() if line.startswith("  Total: "))
    assert " you saved " in total and " markets " in total and " currencies" in total
    assert "time-weighted" in total and "money-weighted" in total
    assert "<html" in (fresh_home.parent / "demo-report.html").read_text(encoding="utf-8")
    assert '"total_wealth":"910308.3240"' in outputs["curl"]
    alice = outputs["summary alice"]
    assert "alice: net worth CHF " in alice and "Cash box" in alice and "€1,290.00" in alice


def test_api_token_says_what_went_wrong(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong password, an unknown user and no API running: one sentence each, exit 1, and
    the prompt on stderr so `TOKEN=$(...)` holds nothing but a token."""
    wealth(["init"])
    wealth(["users", "create", "erin", "--base-currency", "EUR"])
    port = int(os.environ["WEALTH_API_PORT"])
    nothing = CliRunner().invoke(
        main, ["api", "token", "--user", "erin", "--wait", "0.5"], input="x\n"
    )
    assert nothing.exit_code == 1
    assert f"no API answers at http://127.0.0.1:{port}" in nothing.output
    api = ApiServer(port)
    api.start()
    try:
        monkeypatch.setenv("WRONG", "not erin's password")
        for user in ("erin", "nobody"):
            refused = CliRunner().invoke(
                main, ["api", "token", "--user", user, "--password-env", "WRONG"]
            )
            assert refused.exit_code == 1
            assert "the API refused the login: wrong username or password" in refused.output
        good = CliRunner().invoke(main, ["api", "token", "--user", "erin"], input="demo-password\n")
        assert good.exit_code == 0, good.output
        assert "Password for erin" not in good.stdout and "Password for erin" in good.stderr
        token = good.stdout.strip()
        answer = httpx.get(
            f"http://127.0.0.1:{port}/api/profile/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["base_currency"] == "EUR"
    finally:
        api.stop()
