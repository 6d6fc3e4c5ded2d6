"""Loops compiled by numba, for the feature code's per-listing work.

NumPy's calls cost microseconds each, which was most of the time of one listing
scored online; a compiled loop serves a million listings and one alike. Each
loop is compiled on first use rather than at import (loading numba would slow
every import down) and its machine code is cached on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger(__name__)


def compiled(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` compiled by numba, its machine code cached on disk.

    Where no cache can be written (a read-only install and no writable user cache
    directory; `NUMBA_CACHE_DIR` names one), each process compiles it anew, in seconds.
    """
    import numba

    try:
        return cast(Callable[..., Any], numba.njit(cache=True, nogil=True)(function))
    except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
        log.warning("compiling %s without a disk cache: %s", function.__qualname__, exc)
        return cast(Callable[..., Any], numba.njit(nogil=True)(function))
