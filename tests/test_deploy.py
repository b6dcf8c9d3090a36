"""What ships in deploy/ holds up: the production instance (deploy/dagster.yaml) loads into a
DagsterInstance on PostgreSQL with the limits the README promises, the Docker and Kubernetes
run launcher configurations load or validate with their libraries, the definitions load
from workspace.yaml in a fresh process, and the systemd units start what the README and the
end-to-end test start.
"""

from __future__ import annotations

import base64
import configparser
import os
import re
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.support.deployment import (
    BIN,
    DEPLOY_DAGSTER_YAML,
    ROOT,
    free_port,
    scratch_database,
    with_driver,
)
from tests.support.fakes.static import Response, StaticServer
from tests.support.postgres import IN_CI
from wealth_pipeline.definitions import build_definitions
from wealth_pipeline.settings import load_settings

pytestmark = pytest.mark.deploy

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALL_ROOT = "/opt/wealth-pipeline"
SYNC_KEY_IN_RUNS = "WEALTH_SYNC_KEY_FILE="


@pytest.fixture(scope="module")
def dagster_postgres_url() -> Iterator[str]:
    with scratch_database("dagster_deploy") as url:
        yield with_driver(url, "postgresql+psycopg2")


@pytest.fixture
def instance_from(
    dagster_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator:
    """A DagsterInstance from deploy/dagster.yaml plus optional extra files, in a new home."""
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_postgres_url)
    made = []

    def make(*extra: Path) -> dg.DagsterInstance:
        home = tmp_path / f"home{len(made)}"
        home.mkdir()
        text = "\n".join(p.read_text() for p in (DEPLOY_DAGSTER_YAML, *extra))
        (home / "dagster.yaml").write_text(text)
        instance = dg.DagsterInstance.from_config(str(home))
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.dispose()


@pytest.mark.postgres
def test_the_production_instance_is_postgres_with_queue_limits_and_monitoring(
    instance_from,
) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    instance = instance_from()
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)

    config = instance.get_concurrency_config()
    queue = config.run_queue_config
    assert queue is not None and queue.max_concurrent_runs == 4
    limits = {(t["key"], t.get("value")): t["limit"] for t in queue.tag_concurrency_limits}
    assert limits[("dagster/schedule_name", "daily_sync")] == 1  # one daily sync at a time
    assert limits[("wealth/kind", "sync")] == 1
    assert limits[("wealth/kind", "conversion")] == 1
    assert config.pool_config.default_pool_limit == 1

    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == 0  # retries only where a job opts in
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    assert instance.telemetry_enabled is False


@pytest.mark.postgres
def test_pools_are_set_with_the_documented_command(
    dagster_postgres_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(DEPLOY_DAGSTER_YAML, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_URL": dagster_postgres_url}
    run = subprocess.run(
        [str(BIN / "dagster"), "instance", "concurrency", "set", "ecb_rates", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    shown = subprocess.run(
        [str(BIN / "dagster"), "instance", "concurrency", "get", "ecb_rates"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"ecb_rates.*\b1\b", shown.stdout), shown.stdout


def test_run_retries_never_repeat_a_whole_sync_run(tmp_path: Path) -> None:
    """Effective whole-run retries per job: the job's `dagster/max_retries` tag, else the
    instance default of deploy/dagster.yaml (0)."""
    instance_default = yaml.safe_load(DEPLOY_DAGSTER_YAML.read_text())["run_retries"]
    assert instance_default == {
        "enabled": True,
        "max_retries": 0,
        "retry_on_asset_or_op_failure": False,
    }
    defs = build_definitions(load_settings())

    def retries(job_name: str) -> int:
        tags = defs.resolve_job_def(job_name).tags
        return int(tags.get("dagster/max_retries", instance_default["max_retries"]))

    assert retries("daily_sync_job") == 0
    assert defs.resolve_job_def("daily_sync_job").tags["dagster/max_retries"] == "0"
    assert defs.resolve_job_def("daily_sync_job").tags["wealth/kind"] == "sync"
    assert retries("exchange_rates_job") == 2  # replaces its window in one transaction
    # The sync's own schedule names the tag limit that keeps it to one run at a time.
    assert defs.resolve_schedule_def("daily_sync").name == "daily_sync"


@pytest.mark.postgres
def test_the_docker_run_launcher_loads(instance_from, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_docker import DockerRunLauncher

    monkeypatch.setenv("WEALTH_RUN_IMAGE", "registry.example.org/wealth-pipeline:test")
    instance = instance_from(DEPLOY / "run_launchers" / "docker.yaml")
    launcher = instance.run_launcher
    assert isinstance(launcher, DockerRunLauncher)
    assert launcher.image == "registry.example.org/wealth-pipeline:test"
    assert "DAGSTER_POSTGRES_URL" in launcher.env_vars
    assert "WEALTH_DATABASE_URL" in launcher.env_vars
    [key] = [v for v in launcher.env_vars if v.startswith(SYNC_KEY_IN_RUNS)]
    mount = key.removeprefix(SYNC_KEY_IN_RUNS).rsplit("/", 1)[0]
    assert any(v.endswith(f":{mount}:ro") for v in launcher.container_kwargs["volumes"])


def test_the_kubernetes_run_launcher_config_validates() -> None:
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher

    document = yaml.safe_load((DEPLOY / "run_launchers" / "k8s.yaml").read_text())
    launcher = document["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    result = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, [error.message for error in result.errors or []]
    config = result.value
    # The sync key: a Secret mounted read-only into run pods only.
    [volume] = [v for v in config["volumes"] if v["name"] == "sync-key"]
    assert volume["secret"]["secretName"] == "wealth-sync-key"
    [mount] = [m for m in config["volume_mounts"] if m["name"] == "sync-key"]
    assert mount["read_only"] is True
    [key] = [v for v in config["env_vars"] if v.startswith(SYNC_KEY_IN_RUNS)]
    assert key.removeprefix(SYNC_KEY_IN_RUNS).startswith(mount["mount_path"] + "/")
    assert config["run_k8s_config"]["job_spec_config"]["backoff_limit"] == 0


def test_the_definitions_load_from_workspace_yaml_in_a_fresh_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEALTH_", "DAGSTER_"))}
    env.update(WEALTH_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    run = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "wealth_pipeline" in output and "Validation successful" in output, output


# --- systemd units ---------------------------------------------------------------------------


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser


def command(path: Path) -> list[str]:
    words = shlex.split(unit(path)["Service"]["ExecStart"])
    return [words[0].removeprefix(f"{INSTALL_ROOT}/.venv/bin/"), *words[1:]]


def test_the_systemd_units_start_what_the_readme_and_the_e2e_test_start() -> None:
    commands = {path.name: command(path) for path in UNITS}
    assert commands == {
        "wealth-api.service": [
            "wealth", "api", "--host", "127.0.0.1", "--port", "8000", "--workers", "2",
            "--forwarded-allow-ips", "127.0.0.1",
        ],
        "wealth-dagster-daemon.service": ["dagster-daemon", "run", "-w", "workspace.yaml"],
        "wealth-dagster-webserver.service": [
            "dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", "3000",
        ],
    }  # fmt: skip
    readme = (ROOT / "README.md").read_text()
    for words in commands.values():
        assert shlex.join(words) in readme
    for path in UNITS:
        service = unit(path)["Service"]
        assert service["EnvironmentFile"] == "/etc/wealth-pipeline/wealth.env"
        assert service["WorkingDirectory"] == INSTALL_ROOT  # where workspace.yaml is
        assert service["User"] == "wealth"
        # Only the daemon (it launches the runs) may read the sync key.
        hidden = "/etc/wealth-pipeline/keys" in service.get("InaccessiblePaths", "")
        assert hidden is (path.name != "wealth-dagster-daemon.service")


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for path in UNITS:  # installed into this checkout, run as the current user
        text = path.read_text().replace(INSTALL_ROOT, str(ROOT))
        text = re.sub(r"^(User|Group)=.*$", r"\1=root", text, flags=re.MULTILINE)
        (tmp_path / path.name).write_text(text)
    run = subprocess.run(
        [analyze, "verify", *[str(tmp_path / p.name) for p in UNITS]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_proxy_example_fronts_the_ports_of_the_units() -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert "basic_auth" in caddyfile
    assert "reverse_proxy 127.0.0.1:3000" in caddyfile  # the UI, behind the login
    assert "reverse_proxy 127.0.0.1:8000" in caddyfile  # the API, with its own tokens


# --- the reverse proxy in front of the UI --------------------------------------------------


@pytest.fixture
def caddy_in_front(dagster_deployment, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """deploy/Caddyfile run by Caddy on a free port (plain HTTP, no certificate), in front of
    the test webserver and a stand-in API; (proxy URL, password)."""
    caddy = shutil.which("caddy")
    if caddy is None:
        message = "caddy is missing: install Debian's caddy (scripts/dev test does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    password = "proxy-test-password"
    hashed = subprocess.run(
        [caddy, "hash-password", "--plaintext", password],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    api = StaticServer().start()
    api.serve(
        "/api/schema", Response(body=b'{"openapi": "3.1.0"}', content_type="application/json")
    )
    api_port = api.url().rsplit(":", 1)[1].strip("/")
    port = free_port()
    text = (DEPLOY / "Caddyfile").read_text()
    assert "wealth.example.org {" in text and re.search(r"admin \$2a\$\S+", text)
    text = text.replace("wealth.example.org {", f"http://127.0.0.1:{port} {{")
    text = re.sub(r"admin \$2a\$\S+", lambda _: f"admin {hashed}", text)
    text = text.replace("127.0.0.1:3000", f"127.0.0.1:{dagster_deployment.port}")
    text = text.replace("127.0.0.1:8000", f"127.0.0.1:{api_port}")
    config = tmp_path / "Caddyfile"
    config.write_text("{\n\tadmin off\n\tauto_https off\n}\n\n" + text)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    log = (tmp_path / "caddy.log").open("wb")
    process = subprocess.Popen(
        [caddy, "run", "--config", str(config), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        dagster_deployment.wait_for(
            lambda: _status(url + "/api/schema") == 200 or process.poll() is not None,
            60,
            "caddy to listen",
            every=0.3,
        )
        assert process.poll() is None, (tmp_path / "caddy.log").read_text()
        yield url, password
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
        api.stop()


def _status(url: str, auth: tuple[str, str] | None = None, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


@pytest.mark.postgres
def test_the_proxy_asks_for_a_login_before_the_ui(caddy_in_front: tuple[str, str]) -> None:
    url, password = caddy_in_front
    query = b'{"query": "{ version }"}'
    assert _status(url + "/") == 401
    assert _status(url + "/graphql", data=query) == 401  # the UI's API too: no runs launched
    assert _status(url + "/", auth=("admin", "wrong-password")) == 401
    assert _status(url + "/", auth=("admin", password)) == 200
    assert _status(url + "/graphql", auth=("admin", password), data=query) == 200
    assert _status(url + "/api/schema") == 200  # the JSON API has its own tokens


def test_every_setting_of_env_example_reads_in_the_shell_and_systemd(tmp_path: Path) -> None:
    """Uncommented, `.env.example` is a valid EnvironmentFile and shell file alike."""
    settings = [
        line.removeprefix("# ")
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"# [A-Z][A-Z0-9_]*=", line)
    ]
    assert len(settings) > 20
    for line in settings:  # systemd reads no comment after a value
        value = line.split("=", 1)[1]
        assert " #" not in value and "\t#" not in value, line
        if " " in value:
            assert value[0] == value[-1] == '"', line
    env_file = tmp_path / "wealth.env"
    env_file.write_text("\n".join(settings) + "\n")
    shell = subprocess.run(
        ["bash", "-c", f'set -a; . "{env_file}"; env -0'],
        capture_output=True,
        timeout=30,
        env={"PATH": os.environ["PATH"]},
    )
    assert shell.returncode == 0 and not shell.stderr, shell.stderr
    seen = dict(item.split(b"=", 1) for item in shell.stdout.split(b"\0") if b"=" in item)
    for line in settings:
        name, value = line.split("=", 1)
        assert seen[name.encode()].decode() == value.strip('"'), name
