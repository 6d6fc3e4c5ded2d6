"""A bare BentoML service for bench/service.py: `/score` that does no scoring at all.

It takes the same body as strikeout's `/score` (`{"listings": [...]}`, each listing a JSON
object, not validated field by field) and answers one constant small result per listing:
no model, no ledger, no key. What it reaches under the bench's loads is the ceiling the
HTTP stack alone allows on the machine. Access logs are off, as in strikeout's service.
"""

from __future__ import annotations

from typing import Any

import bentoml

SERVICE_NAME = "bare"
RESULT = {"risk": 0.0, "band": "low", "reasons": []}


@bentoml.service(name=SERVICE_NAME, traffic={"timeout": 60},
                 logging={"access": {"enabled": False}})
class BareScore:
    """`/score` answering a constant result per listing."""

    @bentoml.api(route="/score")
    async def score(self, listings: list[dict[str, Any]]) -> dict[str, Any]:
        """One constant result per listing sent."""
        return {"results": [RESULT] * len(listings)}
