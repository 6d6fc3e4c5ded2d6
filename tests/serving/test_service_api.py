"""The service through its ASGI app: /score, keys, bad input, limits, spec, metrics, reloads.

One service instance per module (BentoML's own app factory, run with Starlette's test
client and its lifespan), over a ledger holding the dataset's complaints and its history
up to a moment, and the model trained once per test process.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from mlflow.tracking import MlflowClient
from starlette.testclient import TestClient

from serving.history_store import LISTING_COLUMNS, HistoryStore
from serving.keys import create_key, revoke_key
from serving.ledger.cases import review_cases_table
from tests.serving.service_support import (
    MODEL_NAME,
    LedgerWorld,
    ModelWorld,
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
from tests.serving.test_request_timeout import pending_timers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("service")]


@dataclass
class Api:
    client: TestClient
    app: Any
    world: ModelWorld
    ledger: LedgerWorld
    later: pd.DataFrame  # listings after the cut, oldest first
    readiness: list[int]  # /readyz answers from start-up until ready

    def score(self, listings: list[dict[str, Any]], key: str = "scorer") -> Any:
        return self.client.post("/score", json={"listings": listings},
                                headers=bearer(self.ledger.keys[key]))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    world = model_world()
    cut = cut_moment(world.market)
    ledger = make_ledger(tmp_path_factory.mktemp("api"), world, before(world.market, cut))
    env = service_environment(world, ledger, model_poll_s="0", ring_refresh_s="0.5",
                              switch_interval_ms="7")
    switch_interval = sys.getswitchinterval()  # the service sets its process's; put it back
    with environment(**env):
        from serving.service import Strikeout

        app = Strikeout.to_asgi()
        try:
            with TestClient(app) as client:
                readiness = [client.get("/readyz").status_code]
                wait_until(lambda: readiness.append(client.get("/readyz").status_code) or
                           readiness[-1] == 200, 120, "the service to be ready")
                yield Api(client, app, world, ledger, later_listings(world.market, cut),
                          readiness)
        finally:
            sys.setswitchinterval(switch_interval)


def test_the_service_sets_its_process_thread_switch_interval(api: Api) -> None:
    assert sys.getswitchinterval() == pytest.approx(0.007)


def test_alive_at_once_and_ready_only_once_model_and_ledger_are_loaded(api: Api) -> None:
    assert api.client.get("/livez").status_code == 200
    assert api.readiness[0] == 503 and api.readiness[-1] == 200
    assert api.client.get("/readyz").status_code == 200


def test_scores_come_back_in_input_order_with_the_version_that_made_them(api: Api) -> None:
    rows = api.later.iloc[[900, 700, 800]]
    response = api.score([listing_json(r) for _, r in rows.iterrows()])
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["listing_id"] for r in results] == list(rows["listing_id"])
    for result in results:
        assert set(result) == {"listing_id", "score", "band", "reasons", "model_version",
                               "seller_frozen"}
        assert result["model_version"] == api.world.version
        assert 0.0 <= result["score"] <= 1.0
        if result["band"] == "low":
            assert result["reasons"] == []
        else:
            assert 1 <= len(result["reasons"]) <= 3
            assert all(r["text"] and r["contribution"] > 0 for r in result["reasons"])


def test_scores_through_http_equal_batch_scores(api: Api) -> None:
    """Later listings scored one by one through /score score as batch scoring does."""
    model = mlflow.pyfunc.load_model(api.world.model_uri).unwrap_python_model()
    batch = model.score(api.world.market, with_reasons=False)
    rows = api.later.iloc[:40]
    for _, row in rows.iterrows():
        response = api.score([listing_json(row)])
        assert response.status_code == 200, response.text
        got = response.json()["results"][0]
        assert got["score"] == pytest.approx(batch.at[row.name, "score"], rel=1e-12, abs=1e-12)
        if not got["seller_frozen"]:
            assert got["band"] == batch.at[row.name, "band"]


def test_a_flagged_listing_opens_one_review_case_however_often_it_is_scored(api: Api) -> None:
    model = mlflow.pyfunc.load_model(api.world.model_uri).unwrap_python_model()
    scores = model.score(api.world.market, with_reasons=False).loc[api.later.index, "score"]
    row = api.later.loc[scores.idxmax()]
    for _ in range(3):
        response = api.score([listing_json(row)])
        assert response.json()["results"][0]["band"] in ("review", "high")
    ledger = api.ledger.open()
    try:
        with ledger.store.read() as conn:
            cases = conn.execute(sa.select(
                review_cases_table.c.status, review_cases_table.c.snapshot).where(
                review_cases_table.c.listing_id == row["listing_id"],
                review_cases_table.c.score.is_not(None))).all()
    finally:
        ledger.close()
    assert [c.status for c in cases] == ["open"]  # one case from the model, however many scores
    # the case shows reviewers the listing as it was sent, its seller and its price in USD
    snapshot = json.loads(cases[0].snapshot)
    listing = snapshot["listing"]
    assert pd.Timestamp(listing.pop("created_at")) == row["created_at"]
    assert listing == {c: row[c] for c in LISTING_COLUMNS if c != "created_at"}
    seller = api.world.market.sellers.set_index("seller_id").loc[row["seller_id"]]
    assert snapshot["seller"]["country"] == seller["country"]
    assert pd.Timestamp(snapshot["seller"]["registered_at"]) == seller["registered_at"]
    rate = api.world.market.fx_rates.set_index("currency").at[row["currency"], "usd_per_unit"]
    assert snapshot["price"]["price_usd"] == pytest.approx(row["price"] * rate, rel=1e-12)


def test_a_frozen_sellers_listing_is_high_and_says_so(api: Api) -> None:
    ledger = api.ledger.open()
    try:
        frozen = ledger.frozen_sellers(api.world.market.sellers["seller_id"])
    finally:
        ledger.close()
    assert frozen, "the synthetic ledger has frozen sellers"
    seller = sorted(frozen)[0]
    row = api.later.iloc[0].copy()
    row["listing_id"], row["seller_id"] = "frozen-seller-listing", seller
    result = api.score([listing_json(row)]).json()["results"][0]
    assert result["seller_frozen"] is True and result["band"] == "high"
    assert result["reasons"]


def test_every_route_but_health_and_metrics_wants_a_key_of_the_right_role(api: Api) -> None:
    body = {"listings": [listing_json(api.later.iloc[0])]}
    missing = api.client.post("/score", json=body)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    unknown = api.client.post("/score", json=body, headers=bearer("sk_not-a-key"))
    assert unknown.status_code == 401
    wrong = api.client.post("/score", json=body, headers=bearer(api.ledger.keys["reviewer"]))
    assert wrong.status_code == 403 and "scorer" in wrong.json()["error"]
    assert api.client.post("/admin/reload",
                           headers=bearer(api.ledger.keys["scorer"])).status_code == 403
    assert api.client.get("/sellers/S1").status_code == 401
    for path in ("/score", "/complaints", "/queue/claim"):  # the key before the body
        garbled = api.client.post(path, content=b"{not json",
                                  headers={"Content-Type": "application/json"})
        assert garbled.status_code == 401, (path, garbled.text)
    for path in ("/livez", "/readyz", "/metrics"):
        assert api.client.get(path).status_code == 200


def fine_listing(api: Api, **changes: Any) -> dict[str, Any]:
    return {**listing_json(api.later.iloc[1]), **changes}


BAD_LISTINGS = [
    ("price", {"price": -5.0}),
    ("price", {"price": 0}),
    ("price", {"price": "12.50"}),
    ("price", {"price": 1e300}),
    ("quantity", {"quantity": 1.5}),
    ("quantity", {"quantity": 0}),
    ("quantity", {"quantity": 10**30}),
    ("image_count", {"image_count": -1}),
    ("currency", {"currency": "XYZ"}),
    ("currency", {"currency": "usd"}),
    ("ships_from", {"ships_from": "USA"}),
    ("title", {"title": "x" * 1_000_000}),
    ("title", {"title": "nul \x00 inside"}),
    ("title", {"title": None}),
    ("listing_id", {"listing_id": ""}),
    ("listing_id", {"listing_id": "   "}),
    ("seller_id", {"seller_id": 12}),
    ("created_at", {"created_at": "2026-06-01T10:00:00"}),
    ("created_at", {"created_at": "yesterday"}),
    ("created_at", {"created_at": "1900-01-01T00:00:00Z"}),
    ("label", {"label": 1}),
    ("registered_at", {"registered_at": "2026-01-01T00:00:00Z"}),  # without the other two
]


@pytest.mark.parametrize(("field", "change"), BAD_LISTINGS,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_LISTINGS)])
def test_a_bad_listing_is_a_400_that_names_the_field(api: Api, field: str,
                                                     change: dict[str, Any]) -> None:
    response = api.score([fine_listing(api), {**fine_listing(api), "listing_id": "bad", **change}])
    assert response.status_code == 400, response.text
    locations = [err["loc"] for err in response.json()["detail"]]
    assert any(loc[:2] == ["listings", 1] and field in loc for loc in locations) or any(
        loc == ["listings", 1] and field in err["msg"] for loc, err in
        zip(locations, response.json()["detail"], strict=True)), locations


def test_a_refused_body_is_logged_as_one_warning_line(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bentoml"):
        response = api.score([{**fine_listing(api), "price": -3.0}])
    assert response.status_code == 400
    records = [r for r in caplog.records if r.name.startswith("bentoml._internal.server")]
    assert records and all(r.levelno == logging.WARNING and not r.exc_info for r in records)
    assert "listings.0.price" in records[0].getMessage()
    assert "/score" in records[0].getMessage()
    # and so are the service's own refusals: a currency the model has no rate for, too many
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="strikeout.service"):
        unpriced = api.score([{**fine_listing(api), "currency": "QQQ"}])
        too_many = api.score([fine_listing(api)] * 1001)
    assert (unpriced.status_code, too_many.status_code) == (400, 413)
    lines = [r.getMessage() for r in caplog.records
             if r.name == "strikeout.service" and r.levelno == logging.WARNING]
    assert len(lines) == 2 and all(line.startswith("Refused /score") for line in lines), lines
    assert "listings.0.currency" in lines[0] and "1001 listings" in lines[1]


def test_missing_fields_duplicates_and_broken_bodies_are_400s(api: Api) -> None:
    listing = fine_listing(api)
    del listing["title"]
    missing = api.score([listing])
    assert missing.status_code == 400
    assert ["listings", 0, "title"] in [e["loc"] for e in missing.json()["detail"]]
    duplicate = api.score([fine_listing(api), fine_listing(api)])
    assert duplicate.status_code == 400
    assert duplicate.json()["detail"][0]["loc"] == ["listings", 1, "listing_id"]
    headers = {**bearer(api.ledger.keys["scorer"]), "Content-Type": "application/json"}
    for body in (b"{not json", b"[]", b'{"listings": []}', b'{"listings": null}', b"",
                 b'{"listings": [{"listing_id": "\\ud800"}]}', b"\xff\xfe", b"NaN"):
        response = api.client.post("/score", content=body, headers=headers)
        assert response.status_code == 400, (body, response.text)


def test_a_body_that_is_not_json_is_a_415(api: Api) -> None:
    key = bearer(api.ledger.keys["scorer"])
    body = json.dumps({"listings": [fine_listing(api)]}).encode()
    for content_type in ("multipart/form-data; boundary=x", "application/vnd.bentoml+pickle",
                         "text/plain"):
        response = api.client.post("/score", content=b"--x\r\n\r\n--x--", headers={
            **key, "Content-Type": content_type})
        assert response.status_code == 415, (content_type, response.text)
        assert "application/json" in response.json()["error"]
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        response = api.client.post("/score", content=body, headers={
            **key, "Content-Type": content_type})
        assert response.status_code == 200, (content_type, response.text)
    unsaid = api.client.post("/score", content=body, headers=key)  # read as JSON
    assert unsaid.status_code == 200, unsaid.text


def test_any_script_and_empty_text_score_fine(api: Api) -> None:
    texts = ["", "正品 Arvedo 手提包 全新", "حقيبة أصلية", "Сумка 👜 оригинал", "ﬁ\u200b\u202e"]
    listings = [fine_listing(api, listing_id=f"unicode-{i}", title=t, description=t, brand=t)
                for i, t in enumerate(texts)]
    response = api.score(listings)
    assert response.status_code == 200, response.text
    assert [r["listing_id"] for r in response.json()["results"]] == [
        f"unicode-{i}" for i in range(len(texts))]


def test_too_many_listings_or_too_big_a_body_is_a_413(api: Api) -> None:
    listing = fine_listing(api)
    many = [{**listing, "listing_id": f"many-{i}"} for i in range(1001)]
    response = api.score(many)
    assert response.status_code == 413 and "1000" in response.json()["error"]
    big = [{**listing, "listing_id": f"big-{i}", "description": "d" * 20_000}
           for i in range(120)]
    response = api.score(big)
    assert response.status_code == 413
    stated = api.client.post("/score", content=b"{}", headers={
        **bearer(api.ledger.keys["scorer"]), "Content-Length": str(3 * 1024 * 1024)})
    assert stated.status_code == 413
    complaint = api.client.post("/complaints", content=b"x" * (3 * 1024 * 1024), headers={
        **bearer(api.ledger.keys["brand"]), "Idempotency-Key": "big",
        "Content-Type": "application/json"})
    assert complaint.status_code == 413  # every route, not only /score


def test_the_spec_describes_every_field_and_every_route(api: Api) -> None:
    spec = api.client.get("/docs.json").json()
    assert spec["info"]["title"] == "strikeout" and spec["info"]["version"] != "None"
    assert "listing systems" in spec["info"]["description"]
    assert "BentoML" not in json.dumps(spec["info"])  # not BentoML's boilerplate or contact
    assert spec["info"].get("contact", {}) is not None  # absent, not null
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
    assert {"/score", "/complaints", "/complaints/{complaint_id}/decision",
            "/sellers/{seller_id}", "/sellers/{seller_id}/unfreeze",
            "/admin/reload", "/sellers"} <= set(spec["paths"])
    undescribed = [f"{name}.{field}" for name, schema in spec["components"]["schemas"].items()
                   for field, prop in (schema.get("properties") or {}).items()
                   if not prop.get("description")]
    assert undescribed == []
    listing = spec["components"]["schemas"]["ListingIn"]["properties"]
    assert set(listing) >= {"listing_id", "seller_id", "created_at", "title", "price",
                            "currency", "quantity", "ships_from", "image_count"}
    score = spec["paths"]["/score"]["post"]
    assert {"400", "401", "403", "413", "415", "503"} <= set(map(str, score["responses"]))
    assert score["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["schemas"]["InvalidArgument"]["properties"]["detail"][
        "type"] == "array"  # as /score's 400s give it
    keyed = {(path, method): operation for path, item in spec["paths"].items()
             for method, operation in item.items()
             if path not in ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json")}
    undeclared = [key for key, operation in keyed.items()
                  if not {"401", "403"} <= set(map(str, operation["responses"]))
                  or not operation.get("security")]
    assert undeclared == []


def test_metrics_count_requests_scores_bands_and_the_model_version(api: Api) -> None:
    api.score([fine_listing(api)])
    api.score([fine_listing(api, price=-1.0)])
    text = api.client.get("/metrics").text
    for line in ('strikeout_score_requests_total{status="200"}',
                 'strikeout_score_requests_total{status="400"}',
                 "strikeout_score_request_seconds_bucket", "strikeout_score_bucket",
                 "strikeout_listings_scored_total{band=", "strikeout_batch_listings_bucket",
                 f'strikeout_model_version_info{{version="{api.world.version}"}} 1.0'):
        assert line in text, line


def test_the_band_counter_counts_every_listing_scored(api: Api) -> None:
    def counted() -> float:
        text = api.client.get("/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("strikeout_listings_scored_total{"))

    before = counted()
    listings = [listing_json(api.later.iloc[i]) for i in range(2, 7)]
    assert api.score(listings).status_code == 200
    assert counted() == before + 5


def test_metrics_name_no_path(api: Api) -> None:
    """Paths hold ids, and anyone can make one up: no series is labelled with one, so
    none is made per id or per made-up path (the workers' metric files grow with them)."""
    api.score([fine_listing(api)])
    reviewer = bearer(api.ledger.keys["reviewer"])
    api.client.get("/cases/case_secret_4711", headers=reviewer)  # a 404, with a key
    api.client.get("/sellers/S-secret-0815")  # a 401, without one
    api.client.get("/made-up-path-4242")  # a 404 nobody routes
    response = api.client.get("/metrics")
    assert "endpoint=" not in response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    for seen in ("case_secret_4711", "S-secret-0815", "made-up-path-4242"):
        assert seen not in response.text, seen


def test_requests_leave_no_timer_behind(api: Api) -> None:
    """BentoML's timeout middleware left a timer alive for the whole timeout (60 s)
    after every request: tens of thousands under load, which made every full garbage
    collection slow (`serving/request_timeout.py`)."""
    before = pending_timers()
    for _ in range(40):
        assert api.client.get("/livez").status_code == 200
    assert api.score([fine_listing(api)]).status_code == 200
    assert pending_timers() - before < 5


def test_the_ledger_routes_are_served_by_the_same_service(api: Api) -> None:
    row = api.later.iloc[5]
    filed = api.client.post("/complaints", json={
        "listing_id": row["listing_id"], "seller_id": row["seller_id"], "brand": "Arvedo",
        "reason": "fake"}, headers={**bearer(api.ledger.keys["brand"]),
                                    "Idempotency-Key": "k-1"})
    assert filed.status_code == 201, filed.text
    seller = api.client.get(f"/sellers/{row['seller_id']}",
                            headers=bearer(api.ledger.keys["reviewer"]))
    assert seller.status_code == 200
    assert filed.json()["complaint_id"] in [c["complaint_id"] for c in seller.json()["complaints"]]


def test_accounts_told_as_they_open_are_stored_once_and_refused_when_wrong(api: Api) -> None:
    accounts = [{"seller_id": f"opened-{i}", "registered_at": "2031-05-02T10:00:00+02:00",
                 "country": "VN", "business_verified": False} for i in range(2)]
    scorer = bearer(api.ledger.keys["scorer"])
    told = api.client.post("/sellers", json={"sellers": accounts}, headers=scorer)
    assert told.status_code == 200, told.text
    assert told.json() == {"stored": 2, "known": 0}
    changed = [{**accounts[0], "country": "FR"}, accounts[1]]
    again = api.client.post("/sellers", json={"sellers": changed}, headers=scorer)
    assert again.json() == {"stored": 0, "known": 2}
    ledger = api.ledger.open()
    try:
        stored = HistoryStore(ledger.store).sellers(["opened-0", "opened-1"])
    finally:
        ledger.close()
    assert list(stored["country"]) == ["VN", "VN"]  # what was stored first stays
    assert list(stored["registered_at"]) == [pd.Timestamp("2031-05-02T08:00:00Z")] * 2
    reviewer = api.client.post("/sellers", json={"sellers": accounts},
                               headers=bearer(api.ledger.keys["reviewer"]))
    assert reviewer.status_code == 403
    twice = api.client.post("/sellers", json={"sellers": [accounts[0], accounts[0]]},
                            headers=scorer)
    assert twice.status_code == 422 and "sellers[1].seller_id" in twice.text
    for field, value in (("country", "vn"), ("registered_at", "2031-05-02T10:00:00"),
                         ("business_verified", "yes"), ("seller_id", " ")):
        bad = api.client.post("/sellers", json={"sellers": [{**accounts[0], field: value}]},
                              headers=scorer)
        assert bad.status_code == 422, (field, bad.text)
        assert bad.json()["detail"][0]["loc"] == ["body", "sellers", 0, field], bad.text
    too_many = api.client.post("/sellers", json={"sellers": accounts * 501}, headers=scorer)
    assert too_many.status_code == 422 and "sellers" in too_many.text


def test_a_revoked_admin_key_is_refused_at_once(api: Api) -> None:
    ledger = api.ledger.open()
    try:
        issued = create_key(ledger.store, "admin")
        assert api.client.post("/admin/reload",
                               headers=bearer(issued.key)).status_code == 200
        revoke_key(ledger.store, issued.principal.key_id)
    finally:
        ledger.close()
    assert api.client.post("/admin/reload", headers=bearer(issued.key)).status_code == 401


def test_reload_picks_up_a_moved_alias_without_failing_a_request(api: Api) -> None:
    client = MlflowClient()
    first = client.get_model_version_by_alias(MODEL_NAME, "champion")
    second = client.create_model_version(MODEL_NAME, first.source, run_id=first.run_id)
    versions: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_scoring() -> None:
        listing = fine_listing(api, listing_id="during-reload")
        while not stop.is_set():
            response = api.score([listing])
            if response.status_code != 200:
                failures.append(response.text)
            else:
                versions.append(response.json()["results"][0]["model_version"])

    scoring = threading.Thread(target=keep_scoring)
    scoring.start()
    try:
        client.set_registered_model_alias(MODEL_NAME, "champion", second.version)
        reload = api.client.post("/admin/reload", headers=bearer(api.ledger.keys["admin"]))
        assert reload.status_code == 200, reload.text
        assert reload.json() == {"model_version": f"{MODEL_NAME}/{second.version}",
                                 "previous_version": api.world.version, "changed": True}
        wait_until(lambda: versions and versions[-1].endswith(f"/{second.version}"), 30,
                   "a response from the new version")
    finally:
        stop.set()
        scoring.join(30)
        client.set_registered_model_alias(MODEL_NAME, "champion", first.version)
        api.client.post("/admin/reload", headers=bearer(api.ledger.keys["admin"]))
    assert failures == []
    assert versions[0] == api.world.version and versions[-1] != versions[0]
    again = api.client.post("/admin/reload", headers=bearer(api.ledger.keys["admin"])).json()
    assert again["changed"] is False and again["model_version"] == api.world.version


KEY_OF = {"/score": "scorer", "/admin/reload": "admin", "/complaints": "brand",
          "/sellers": "scorer"}


def test_generated_requests_never_get_a_server_error(api: Api, tmp_path: Path) -> None:
    """Schemathesis against the service's own spec: any request, valid or not, gets < 500."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode

    async def without_lifespan(scope: dict, receive: Any, send: Any) -> None:
        """The running app, minus start-up and shut-down (the fixture's client owns those)."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await api.app(scope, receive, send)

    schema = schemathesis.openapi.from_asgi("/docs.json", without_lifespan)
    seen: dict[int, int] = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @given(case=schema.as_strategy(generation_mode=mode))
        @settings(max_examples=120, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            key = api.ledger.keys[KEY_OF.get(case.path, "reviewer")]
            response = case.call(headers=bearer(key))
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            case.validate_response(response, checks=[not_a_server_error])

        call()
    assert not [code for code in seen if code >= 500], seen
    assert seen.get(200, 0) > 0 and seen.get(400, 0) > 0, seen
    (tmp_path / "statuses.json").write_text(json.dumps(seen))


def test_scores_are_probabilities_for_random_well_formed_listings(api: Api) -> None:
    rng = np.random.default_rng(3)
    listings = [fine_listing(api, listing_id=f"random-{i}", price=float(rng.uniform(0.01, 1e6)),
                             quantity=int(rng.integers(1, 10_000)),
                             created_at="2030-01-01T00:00:00+05:30")
                for i in range(50)]
    response = api.score(listings)
    assert response.status_code == 200
    scores = [r["score"] for r in response.json()["results"]]
    assert all(0.0 <= s <= 1.0 for s in scores)
