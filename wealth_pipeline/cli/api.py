"""`wealth api`: serve the read-only JSON API with uvicorn."""

from __future__ import annotations

import click

from wealth_pipeline.cli.common import settings_or_usage_error


@click.command("api")
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
def api(host: str | None, port: int | None, workers: int, access_log: bool) -> None:
    """Serve the read-only API (OpenAPI at /api/schema, docs at /api/docs).

    It reads the warehouse and its marts and writes only its own refresh-token
    bookkeeping. It never loads the sync key. The signing key comes from
    WEALTH_API_SECRET_KEY (at least 32 bytes) or a key file generated under WEALTH_HOME.
    """
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
    )
