"""One warning line per refused `/score` body instead of BentoML's error with a traceback.

BentoML logs every request body its input model refuses (a pydantic `ValidationError`,
answered 400) at ERROR with the whole traceback, about 25 lines: any scorer key could
fill the logs with bad bodies. `one_line_refusals()` keeps those records, as WARNING and
on one line naming the first problem; errors of the service itself (5xx) stay as they
are.
"""

from __future__ import annotations

import logging

from bentoml.exceptions import BentoMLException
from pydantic import ValidationError

BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"


class OneLineRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            first = error.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            summary = f"{error.error_count()} validation error(s); first: {where}: {first['msg']}"
        elif isinstance(error, BentoMLException) and error.error_code.value < 500:
            summary = str(error)
        else:
            return True
        record.msg = f"Refused {record.msg} (client error): %s"
        record.args = (*(record.args or ()), summary)  # type: ignore[arg-type]
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


def one_line_refusals() -> None:
    """Install the filter on BentoML's HTTP logger (once per process)."""
    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, OneLineRefusals) for f in logger.filters):
        logger.addFilter(OneLineRefusals())
