"""What a benchmark ran on: read every figure with the machine's size and load beside it."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine_info() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
    }


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB, e.g. VmHWM (peak resident memory)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_memory() -> None:
    """Restart VmHWM from the current resident size (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")
