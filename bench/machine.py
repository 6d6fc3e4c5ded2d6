"""What a benchmark ran on: read every figure with the machine's size and load beside it."""

from __future__ import annotations

import os
import platform


def machine_info() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
    }
