"""`wealth api`: serve the read-only JSON API with uvicorn; `wealth api token`: log in to it."""

from __future__ import annotations

import click

from wealth_pipeline.cli.common import (
    password_env_option,
    read_password,
    settings_or_usage_error,
)


@click.group("api", invoke_without_command=True)
@click.option(
    "--host",
    default=None,
    help="Address to bind (default: WEALTH_API_HOST, else 127.0.0.1: this machine only).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port (default: WEALTH_API_PORT, else 8000).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (each answers requests on its own core).",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@click.option(
    "--forwarded-allow-ips",
    envvar="WEALTH_API_FORWARDED_ALLOW_IPS",
    default="",
    metavar="ADDRESSES",
    help=(
        "Reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For "
        "names the client, e.g. 127.0.0.1 behind a proxy on this machine; default "
        "(WEALTH_API_FORWARDED_ALLOW_IPS, else none): the header is ignored and the client "
        "is the connection's address. The login limits count per client address."
    ),
)
@click.pass_context
def api(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int,
    access_log: bool,
    forwarded_allow_ips: str,
) -> None:
    """Serve the read-only API (OpenAPI at /api/schema, docs at /api/docs).

    `wealth api token --user U` logs in to a running API and prints an access token.

    It reads the warehouse and its marts and writes only its own refresh-token
    bookkeeping. It never loads the sync key. The signing key comes from
    WEALTH_API_SECRET_KEY (at least 32 bytes) or a key file generated under WEALTH_HOME.
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from wealth_pipeline.api.app import SchemaNotCurrent, create_app
    from wealth_pipeline.api.tokens import KeyConfigurationError

    settings = settings_or_usage_error()
    if settings.api_port > 65535:
        raise click.UsageError(f"WEALTH_API_PORT must be at most 65535, not {settings.api_port}")
    try:
        # Checked here once, so a bad key or an old schema stops the start with a message
        # (and the key file exists before the workers start).
        create_app(settings)
    except (KeyConfigurationError, SchemaNotCurrent) as exc:
        raise click.ClickException(str(exc)) from None
    host = host or settings.api_host
    port = port or settings.api_port
    click.echo(
        f"wealth API on http://{host}:{port}/api/docs, dashboard on http://{host}:{port}/ "
        f"({workers} worker(s); sign in with `wealth dashboard link --user U`)",
        err=True,
    )
    uvicorn.run(
        "wealth_pipeline.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        server_header=False,
        **proxy_options(forwarded_allow_ips),
    )


def proxy_options(forwarded_allow_ips: str) -> dict[str, object]:
    """uvicorn's proxy settings: X-Forwarded-For honoured only from the listed proxies.

    uvicorn by default trusts the header from 127.0.0.1 (or $FORWARDED_ALLOW_IPS): behind
    a proxy that passes a client's own X-Forwarded-For through, every client could pick
    the address the login limits count. Here nothing is trusted unless configured.
    """
    trusted = ",".join(part.strip() for part in forwarded_allow_ips.split(",") if part.strip())
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


@api.command("token")
@click.option("--user", "username", required=True, metavar="USERNAME", help="Who logs in.")
@click.option(
    "--url",
    metavar="URL",
    help="The API's address (default: http://WEALTH_API_HOST:WEALTH_API_PORT).",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 300),
    default=10,
    show_default=True,
    help="Seconds to wait for an API that is still starting.",
)
@password_env_option
def api_token(
    username: str, url: str | None, wait_seconds: float, password_env: str | None
) -> None:
    """Log in to the running API and print a short-lived access token (for curl).

    The password is asked here and never sent: like every client, this derives the login
    hash from it with the salts the API gives. The token lives WEALTH_API_ACCESS_TOKEN_MINUTES
    (10 by default); use it as `Authorization: Bearer TOKEN`.
    """
    import httpx

    from wealth_pipeline.api.client import LoginFailed, login

    settings = settings_or_usage_error(needs_warehouse=False)  # it only talks to the API
    if url is None:
        host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
        host = f"[{host}]" if ":" in host else host
        url = f"http://{host}:{settings.api_port}"
    password = read_password(password_env, prompt=f"Password for {username}", err=True)
    try:
        with httpx.Client(base_url=url, timeout=settings.http_timeout_seconds) as client:
            answer = login(client, username, password, wait_seconds=wait_seconds)
    except LoginFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(answer["access"])
    click.echo(f"(valid {answer.get('expires_in', '?')} s)", err=True)
