"""`wealth keys`: the pipeline's sync key pair, for unattended sync.

Run `wealth keys init` where the pipeline worker runs. The private key stays in its file
(WEALTH_SYNC_KEY_FILE, mode 0600); clients enabling auto-sync need only the public key
beside it (`.pub`).
"""

from __future__ import annotations

import stat
from pathlib import Path

import click

from wealth_pipeline.cli.common import settings_or_usage_error, vault_errors


@click.group()
def keys() -> None:
    """The pipeline's sync key pair (unattended sync)."""


@keys.command("init")
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing key pair. Users with auto-sync must then enable it again.",
)
def keys_init(force: bool) -> None:
    """Create the sync key pair at WEALTH_SYNC_KEY_FILE (private key mode 0600)."""
    from wealth_pipeline.security.sync_keys import generate_key_pair

    path = settings_or_usage_error(needs_warehouse=False).sync_key_file
    if path.exists() and not force:
        # Not a dead end: the demo set-up (or an earlier init) made it, and it is the one
        # every user's auto-sync is sealed to. Show it and say what to do next.
        show_key(path)
        click.echo(
            "This sync key pair exists already (made by `wealth demo setup` or an earlier "
            "`wealth keys init`): nothing to do. Turn on unattended sync with "
            "`wealth users set USERNAME --auto-sync`; `wealth keys init --force` replaces the "
            "key (users with auto-sync must then enable it again)."
        )
        return
    replaced = force and path.exists()
    with vault_errors():
        info = generate_key_pair(path, force=force)
    click.echo(f"private key  {info.private_key_path}  (mode 0600; keep it off the API host)")
    click.echo(f"public key   {info.public_key_path}")
    click.echo(f"key id       {info.key_id}")
    if replaced:
        click.echo(
            "Replaced the previous key: users with auto-sync must run "
            "`wealth users set USERNAME --auto-sync` again.",
            err=True,
        )


@keys.command("show")
def keys_show() -> None:
    """Show where the sync key pair is and its id (never the private key)."""
    show_key(settings_or_usage_error(needs_warehouse=False).sync_key_file)


def show_key(path: Path) -> None:
    from wealth_pipeline.security.sync_keys import (
        key_id,
        load_private_key,
        load_public_key,
        public_key_path,
    )

    pub_path = public_key_path(path)
    if not path.exists() and not pub_path.exists():
        raise click.ClickException(f"no sync key at {path}: run `wealth keys init`")
    with vault_errors():
        public_key = load_public_key(pub_path)
        fingerprint = key_id(public_key)
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            click.echo(f"private key  {path}  (mode {mode:04o})")
            if mode & 0o077:
                click.echo(f"warning: {path} is readable by others: chmod 600 it", err=True)
            if key_id(load_private_key(path).public_key()) != fingerprint:
                raise click.ClickException(
                    f"{pub_path} does not belong to {path}: run `wealth keys init --force`"
                )
        else:
            click.echo(f"private key  {path}  (not on this host)")
    click.echo(f"public key   {pub_path}")
    click.echo(f"key id       {fingerprint}")
