"""Lock files that make one server process of a host do a job (cull, write history).

Each process opens the same file in DOCKDASH_LOCK_DIR and tries an exclusive `flock`
without waiting; the one that holds it does the job, the others try again later and
take over when the holder exits (the kernel drops its lock with its files).
"""

from __future__ import annotations

import contextlib
import fcntl
from typing import BinaryIO

from django.conf import settings


class HostLock:
    """The lock file `name` of this host; `take()` until it answers True, then the job."""

    def __init__(self, name: str) -> None:
        settings.LOCK_DIR.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(settings.LOCK_DIR / name, "a+b")  # noqa: SIM115
        self.held = False

    def take(self) -> bool:
        """True when this process holds the lock (now or already)."""
        if not self.held:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self.held = True
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self.held = False
