"""A ledger database another process holds locked: /score answers 503, then scores again."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import write_lock_held
from tests.serving.service_support import (
    bearer,
    before,
    cut_moment,
    environment,
    later_listings,
    listing_json,
    make_ledger,
    model_world,
    service_environment,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("service")]


def test_a_ledger_locked_by_another_process_is_a_503_with_retry_after(tmp_path: Path) -> None:
    world = model_world()
    cut = cut_moment(world.market)
    ledger = make_ledger(tmp_path, world, before(world.market, cut))
    later = later_listings(world.market, cut)
    env = service_environment(world, ledger, model_poll_s="0", busy_timeout_s="0.2",
                              write_attempts="2")
    with environment(**env):
        from serving.service import Strikeout

        with TestClient(Strikeout.to_asgi()) as client:
            wait_until(lambda: client.get("/readyz").status_code == 200, 120,
                       "the service to be ready")
            scorer = bearer(ledger.keys["scorer"])
            # as a long import in another process would
            with write_lock_held(ledger.url.removeprefix("sqlite:///")):
                locked = client.post("/score", json={"listings": [listing_json(later.iloc[0])]},
                                     headers=scorer)
            assert locked.status_code == 503, locked.text
            assert int(locked.headers["Retry-After"]) > 0
            again = client.post("/score", json={"listings": [listing_json(later.iloc[0])]},
                                headers=scorer)
            assert again.status_code == 200, again.text
