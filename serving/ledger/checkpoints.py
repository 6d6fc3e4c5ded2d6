"""SQLite WAL checkpoints in a thread of their own, off the writers' commits.

SQLite copies the write-ahead log back into the database file (a checkpoint) inside
whichever commit finds the log past 1,000 pages. In the scoring service that is a
history write on the scoring thread: every few seconds one scoring pass paid the copy,
about 5 ms at the p99 of storing a pass of new listings. With `wal_autocheckpoint = 0`
on the service's connections, a thread of its own checkpoints every `every_s` seconds
instead. Its checkpoints are PASSIVE: they copy what no reader still needs and never
wait for, nor block, readers and writers (the sqlite3 driver lets go of the interpreter
meanwhile). Other processes on the same file (the CLI) keep SQLite's own checkpoints.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

log = logging.getLogger(__name__)


def no_autocheckpoint(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    """A connection whose commits never checkpoint (for SQLAlchemy's "connect" event)."""
    dbapi_conn.execute("PRAGMA wal_autocheckpoint = 0")


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite database at `path` every `every_s` seconds."""

    def __init__(self, path: str, every_s: float) -> None:
        self.path = path
        self.every_s = every_s
        self.checkpoints = 0  # taken so far
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="strikeout-wal-checkpoints",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)  # this thread's own
        try:
            while not self._stop.wait(self.every_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the next round tries again
                    log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()
