"""A bare BentoML service for bench/service.py: `/score` that does no scoring at all.

It takes the same body as strikeout's `/score` (`{"listings": [...]}`, each listing a JSON
object, not validated field by field) and answers one constant small result per listing:
no model, no ledger, no key. What it reaches under the bench's loads is the ceiling the
HTTP stack alone allows on the machine. Access logs are off, as in strikeout's service.

The answer is a pydantic model, as strikeout's is: BentoML 1.4 rebuilds the JSON schema
of a plain `dict` return type on every response to pick its media type, which cost a
fifth of this endpoint's CPU and would lower the ceiling below what the stack allows.
Like strikeout's `/score`, it is left out of BentoML's tracing middleware (see
serving/service.py).
"""

from __future__ import annotations

from typing import Any

import bentoml
from pydantic import BaseModel

SERVICE_NAME = "bare"
RESULT = {"risk": 0.0, "band": "low", "reasons": []}


class BareResponse(BaseModel):
    results: list[dict[str, Any]]


@bentoml.service(name=SERVICE_NAME, traffic={"timeout": 60},
                 logging={"access": {"enabled": False}},
                 tracing={"excluded_urls": ["/score"]})
class BareScore:
    """`/score` answering a constant result per listing."""

    @bentoml.api(route="/score")
    async def score(self, listings: list[dict[str, Any]]) -> BareResponse:
        """One constant result per listing sent."""
        return BareResponse(results=[RESULT] * len(listings))
