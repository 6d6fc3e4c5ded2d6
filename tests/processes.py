"""Servers the tests start stop with the test run, even when it is killed."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # prctl(2)


def stopped_with_parent(signal_number: int) -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` (Linux): the child is sent `signal_number`
    when the thread that started it dies. A test run killed midway (a CI timeout, `kill`)
    then leaves no server running, though the server's own session keeps the terminal's
    Ctrl-C from stopping it before the tests' teardown does. Popen runs it after any
    switch to another user, which would clear the setting. None where there is no prctl.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: stopped by the teardown only
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal_number)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm
