"""Servers the tests start do not outlive a test run that is killed."""

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

LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the parent-death signal is Linux's")

START_AND_WAIT = """
from tests.postgres import ThrowawayPostgres
server = ThrowawayPostgres().start()
print(server.process.pid, server.folder, flush=True)
input()  # until killed
"""

# a stand-in for `bentoml serve` and uvicorn, started as the tests start them
SLEEPER_AND_WAIT = """
import signal, subprocess, sys
from tests.processes import stopped_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         start_new_session=True, preexec_fn=stopped_with_parent(signal.SIGTERM))
print(child.pid, flush=True)
input()  # until killed
"""


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def child_left_by_killed_parent(script: str) -> tuple[int, list[str]]:
    """Run `script` (it starts a child and prints its pid first), SIGKILL it once the
    child runs, as a CI timeout may; give the child 30 s to go. Returns the child's pid,
    if still running, and what else the script printed."""
    run = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert run.stdout is not None
    pid_text, *rest = run.stdout.readline().split()
    pid = int(pid_text)
    assert running(pid)
    run.kill()  # no teardown runs
    run.wait()
    deadline = time.monotonic() + 30
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return (pid if running(pid) else 0), rest


@LINUX_ONLY
def test_a_child_started_as_the_tests_start_servers_stops_when_its_parent_is_killed() -> None:
    left, _ = child_left_by_killed_parent(SLEEPER_AND_WAIT)
    if left:
        os.kill(left, signal.SIGKILL)
    assert not left, "the child outlived the process that started it"


@LINUX_ONLY
@pytest.mark.postgres
def test_a_server_whose_test_run_is_killed_shuts_down() -> None:
    try:
        find_bin_dir()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    left, (folder,) = child_left_by_killed_parent(START_AND_WAIT)
    if left:  # leave nothing behind, whatever the verdict
        os.kill(left, signal.SIGINT)
    shutil.rmtree(folder, ignore_errors=True)  # the server's folder stays: only `stop` removes it
    assert not left, "the PostgreSQL server outlived the process that started it"
