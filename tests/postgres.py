"""A throwaway PostgreSQL server for tests and benchmarks: initdb, start, databases, stop.

It uses the PostgreSQL binaries on the machine (Debian: `apt-get install -y postgresql`,
which puts them in /usr/lib/postgresql/<version>/bin), runs in a temporary folder and
listens on a Unix socket only, so it touches no port and no other server. PostgreSQL
refuses to run as root; as root the server runs as the `postgres` system user that the
Debian package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.processes import stopped_with_parent

APT_HINT = "apt-get install -y postgresql  (Debian/Ubuntu; or set STRIKEOUT_PG_BIN)"
SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The binaries or the user needed to run a PostgreSQL server are not here."""


def find_bin_dir() -> Path:
    """The folder holding `initdb` and `postgres`: $STRIKEOUT_PG_BIN, Debian's, or PATH."""
    given = os.environ.get("STRIKEOUT_PG_BIN")
    candidates = [Path(given)] if given else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    raise PostgresUnavailable(f"no PostgreSQL server binaries (initdb, postgres) found; "
                              f"install them with: {APT_HINT}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayPostgres:
    """One PostgreSQL server in a temporary folder, deleted when stopped."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bin_dir = find_bin_dir()
        self.durable = durable  # fsync on (benchmarks); off makes tests faster
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="strikeout-pg-"))
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"running as root, PostgreSQL needs a '{SERVER_USER}' system user; "
                    f"the Debian package creates it: {APT_HINT}") from exc
            self.user = SERVER_USER
            shutil.chown(self.folder, user=SERVER_USER)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def start(self) -> ThrowawayPostgres:
        data = self.folder / "data"
        made = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            capture_output=True, user=self.user, cwd=self.folder,
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stderr.decode(errors='replace')}")
        settings = ["listen_addresses=", "max_connections=200", "log_min_messages=warning"]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        args = [str(self.bin_dir / "postgres"), "-D", str(data), "-k", str(self.folder),
                "-p", str(self.port)]
        for setting in settings:
            args += ["-c", setting]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            user=self.user, cwd=self.folder,
                                            start_new_session=True,
                                            # PostgreSQL's fast shutdown
                                            preexec_fn=stopped_with_parent(signal.SIGINT))
        self._wait_ready()
        return self

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start:\n{self.log_path.read_text()}")
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start in {timeout_s} s:\n"
                                       f"{self.log_path.read_text()}") from None
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        return f"host={self.folder} port={self.port} user=postgres dbname={database}"

    def url(self, database: str, schema: str | None = None) -> str:
        """A SQLAlchemy URL of `database` (and `schema` as the search path) on this server."""
        url = f"postgresql+psycopg://postgres@/{database}?host={self.folder}&port={self.port}"
        return url + (f"&options=-csearch_path%3D{schema}" if schema else "")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self, name: str | None = None) -> str:
        """A new empty schema in the `postgres` database, as the search path of the URL.

        Much faster than a database per test (CREATE DATABASE copies a template).
        """
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return self.url("postgres", schema=name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
