"""The tests' throwaway PostgreSQL server does not outlive a test run that is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.postgres import PostgresUnavailable, find_bin_dir

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.postgres

START_AND_WAIT = """
from tests.postgres import ThrowawayPostgres
server = ThrowawayPostgres().start()
print(server.process.pid, server.folder, flush=True)
input()  # until killed
"""


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the parent-death signal is Linux's")
def test_a_server_whose_test_run_is_killed_shuts_down() -> None:
    try:
        find_bin_dir()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    run = subprocess.Popen([sys.executable, "-c", START_AND_WAIT], cwd=REPO, text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert run.stdout is not None
    pid_text, folder = run.stdout.readline().split()
    pid = int(pid_text)
    assert running(pid)
    run.kill()  # no teardown runs: SIGKILL, as a CI timeout may send
    run.wait()
    deadline = time.monotonic() + 30
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    gone = not running(pid)
    if not gone:  # leave nothing behind, whatever the verdict
        os.kill(pid, signal.SIGINT)
    shutil.rmtree(folder, ignore_errors=True)  # the server's folder stays: only `stop` removes it
    assert gone, "the PostgreSQL server outlived the process that started it"
