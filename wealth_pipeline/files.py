"""Private files under WEALTH_HOME: folders 0700 and data files 0600, whatever the umask.

The warehouse (and SQLite's -wal/-shm beside it, which take the database file's mode), key
files and the outbox's weekly reports hold net-worth figures and secrets: under the usual
umask 022 they would be readable by every account on the machine. `mkdir` and `open`
filter the mode through the umask, so the mode is set again explicitly. Folders that exist
already are left as they are (they may be the user's own, e.g. the home folder).
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """`mkdir -p path`, each folder it creates 0700."""
    missing = []
    folder = Path(path)
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # made by another process meanwhile: theirs
        os.chmod(folder, FOLDER_MODE)
    return Path(path)


def create_private_file(path: Path, data: bytes = b"") -> bool:
    """Create `path` 0600 holding `data`; False (and nothing changed) when it exists already.

    O_EXCL and O_NOFOLLOW: never writes through a symlink or into someone else's file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(descriptor, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)
    return True
