"""How an account waiting for its owner is described, the same everywhere.

An account waits (`pending_auth`) when its login needs the person: an assisted broker
(VIAC's SMS, Morgan Stanley's short-lived token, Commerzbank's photoTAN) whose session is
gone, or an unattended one whose bank asked for an approval. It has not failed: nothing is
lost, and one command syncs it now. The run's metadata, the approval e-mail, the weekly
report, `wealth accounts list` and the API all show the same three things: why, the day of
its last data, and that command.
"""

from __future__ import annotations

from datetime import date

RUN = "; run `"
LAST_DATA = "; last data "


def waiting_reason(why: str, last_data: date | None, command: str) -> str:
    """The status message of a waiting account: `why; last data DAY; run `COMMAND``."""
    day = last_data.isoformat() if last_data is not None else "none yet"
    return f"{why.rstrip('. ')}{LAST_DATA}{day}{RUN}{command}`"


def why_of(reason: str | None) -> str:
    """The reason without the last-data day and the command (they are shown apart)."""
    text = reason or ""
    for marker in (LAST_DATA, RUN):
        text = text.split(marker)[0]
    return text.strip()


def assisted_why(broker_name: str, sync_note: str) -> str:
    """Why an assisted account waits: the catalogue's note, or a plain default."""
    note = (sync_note or "").strip()
    if note:
        return f"{broker_name} syncs with you there (assisted): {note.rstrip('.')}"
    return f"{broker_name} needs you at every fresh login (assisted sync)"
