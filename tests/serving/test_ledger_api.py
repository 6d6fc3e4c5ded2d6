"""The ledger's HTTP routes through the ASGI app: keys, roles, brands, conflicts, logging."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient

from serving.keys import create_key
from serving.ledger.ledger import Ledger
from serving.ledger_app import create_app
from serving.settings import LedgerSettings


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]

    def auth(self, who: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **headers}

    def file(self, who: str, key: str, **body: str) -> httpx.Response:
        payload = {"listing_id": "L1", "seller_id": "S1", "brand": "Arvedo",
                   "reason": "replica sold as genuine", **body}
        return self.client.post("/complaints", json=payload,
                                headers=self.auth(who, **{"Idempotency-Key": key}))

    def decide(self, complaint_id: str, decision: str = "upheld",
               who: str = "reviewer") -> httpx.Response:
        return self.client.post(f"/complaints/{complaint_id}/decision",
                                json={"decision": decision}, headers=self.auth(who))


def make_api(url: str) -> Iterator[Api]:
    settings = LedgerSettings(ledger_url=url)
    ledger = Ledger.open(settings)
    keys = {
        "arvedo": create_key(ledger.store, "brand", "Arvedo").key,
        "kathea": create_key(ledger.store, "brand", "Kathea").key,
        "reviewer": create_key(ledger.store, "reviewer").key,
        "admin": create_key(ledger.store, "admin").key,
        "scorer": create_key(ledger.store, "scorer").key,
    }
    ledger.close()
    with TestClient(create_app(settings)) as client:
        yield Api(client, keys)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from make_api(sqlite_url)


@pytest.fixture
def any_api(ledger_url: str) -> Iterator[Api]:
    yield from make_api(ledger_url)


def test_strike_out_over_http(any_api: Api) -> None:
    api = any_api
    ids = []
    for i in range(3):
        filed = api.file("arvedo", f"key-{i}", listing_id=f"never-scored-{i}")
        assert filed.status_code == 201, filed.text
        assert filed.json()["status"] == "pending"
        ids.append(filed.json()["complaint_id"])
    outcomes = [api.decide(cid).json() for cid in ids]
    assert [o["frozen_now"] for o in outcomes] == [False, False, True]

    seller = api.client.get("/sellers/S1", headers=api.auth("reviewer")).json()
    assert seller["frozen"] and seller["strikes_by_brand"] == {"Arvedo": 3}
    assert sorted(c["complaint_id"] for c in seller["freeze"]["caused_by"]) == sorted(ids)

    lifted = api.client.post("/sellers/S1/unfreeze", json={"reason": "appeal granted"},
                             headers=api.auth("admin"))
    assert lifted.status_code == 200 and lifted.json()["freeze"]["lift_reason"] == "appeal granted"
    again = api.client.post("/sellers/S1/unfreeze", json={"reason": "again"},
                            headers=api.auth("admin"))
    assert again.status_code == 409
    assert not api.client.get("/sellers/S1", headers=api.auth("admin")).json()["frozen"]


def test_takedowns_feed_pages_in_order_for_listing_systems(api: Api) -> None:
    ids = [api.file("arvedo", f"key-{i}", listing_id=f"L{i}").json()["complaint_id"]
           for i in range(3)]
    for cid in ids:
        api.decide(cid)
    first = api.client.get("/takedowns?limit=2", headers=api.auth("scorer"))
    assert first.status_code == 200, first.text
    page = first.json()
    assert [t["listing_id"] for t in page["takedowns"]] == ["L0", "L1"]
    assert all(t["cause"] == "freeze" and t["seller_id"] == "S1" for t in page["takedowns"])
    rest = api.client.get(f"/takedowns?after={page['next_after']}",
                          headers=api.auth("scorer")).json()
    assert [t["listing_id"] for t in rest["takedowns"]] == ["L2"]
    empty = api.client.get(f"/takedowns?after={rest['next_after']}",
                           headers=api.auth("admin")).json()
    assert empty == {"takedowns": [], "next_after": rest["next_after"]}
    assert api.client.get("/takedowns", headers=api.auth("arvedo")).status_code == 403
    assert api.client.get("/takedowns?after=-1", headers=api.auth("scorer")).status_code == 422
    seller = api.client.get("/sellers/S1", headers=api.auth("kathea")).json()
    assert seller["takedowns"] == []  # Kathea complained about none of them
    seller = api.client.get("/sellers/S1", headers=api.auth("arvedo")).json()
    assert [t["listing_id"] for t in seller["takedowns"]] == ["L0", "L1", "L2"]


def test_idempotency_key_replays_and_conflicts(api: Api) -> None:
    first = api.file("arvedo", "k1")
    replay = api.file("arvedo", "k1")
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["complaint_id"] == first.json()["complaint_id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    different = api.file("arvedo", "k1", listing_id="L2")
    assert different.status_code == 409
    assert "different body" in different.json()["detail"]


def test_deciding_twice_is_409(api: Api) -> None:
    cid = api.file("arvedo", "k1").json()["complaint_id"]
    assert api.decide(cid).status_code == 200
    second = api.decide(cid, "rejected")
    assert second.status_code == 409
    assert api.decide("cmp_unknown").status_code == 404
    seller = api.client.get("/sellers/S1", headers=api.auth("reviewer")).json()
    assert seller["strikes_by_brand"] == {"Arvedo": 1}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk_not-a-key"}, {"Authorization": "Basic dXNlcjpwdw=="},
     {"Authorization": "Bearer"}],
)
def test_no_valid_key_is_401(api: Api, headers: dict[str, str]) -> None:
    calls = [
        api.client.post("/complaints", headers={**headers, "Idempotency-Key": "k"},
                        json={"listing_id": "L1", "seller_id": "S1", "brand": "Arvedo",
                              "reason": "x"}),
        api.client.get("/sellers/S1", headers=headers),
        api.client.post("/complaints/c/decision", headers=headers, json={"decision": "upheld"}),
        api.client.post("/sellers/S1/unfreeze", headers=headers, json={"reason": "x"}),
    ]
    for response in calls:
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("body", [b"{not json", b'{"reason": "x",', b"", b"\xff\xfe", b"\xe9",
                                  b"[" * 100_000])
def test_the_key_is_checked_before_the_body_is_read(api: Api, body: bytes) -> None:
    """A caller without a key learns nothing of a route's body, even from bytes that
    are not JSON; a caller with another role's key is refused for its role; the caller
    the route is for is told where the JSON broke."""
    routes = [("/complaints", "arvedo"), ("/complaints/c1/decision", "reviewer"),
              ("/sellers/S1/unfreeze", "admin"), ("/queue/claim", "reviewer")]
    def post(path: str, **headers: str) -> httpx.Response:
        return api.client.post(path, content=body, headers={
            "Content-Type": "application/json", "Idempotency-Key": "k", **headers})

    for path, owner in routes:
        keyless = post(path)
        assert keyless.status_code == 401, (path, keyless.text)
        assert keyless.headers["WWW-Authenticate"] == "Bearer"
        assert post(path, Authorization="Bearer sk_not-a-key").status_code == 401
        wrong = post(path, **api.auth("scorer"))
        assert wrong.status_code == 403, (path, wrong.text)
        mine = post(path, **api.auth(owner))
        assert mine.status_code == 422, (path, mine.text)
        if body:
            assert [e["type"] for e in mine.json()["detail"]] == ["json_invalid"], mine.text
            assert mine.json()["detail"][0]["loc"][0] == "body"


def test_wrong_role_is_403(api: Api) -> None:
    cid = api.file("arvedo", "k1").json()["complaint_id"]
    assert api.file("scorer", "k2").status_code == 403
    assert api.file("reviewer", "k3").status_code == 403
    assert api.decide(cid, who="arvedo").status_code == 403
    assert api.decide(cid, who="admin").status_code == 403
    assert api.client.get("/sellers/S1", headers=api.auth("scorer")).status_code == 403
    unfreeze = api.client.post("/sellers/S1/unfreeze", json={"reason": "x"},
                               headers=api.auth("reviewer"))
    assert unfreeze.status_code == 403


def test_a_brand_acts_only_for_itself(api: Api) -> None:
    assert api.file("kathea", "k1").status_code == 403
    admin = api.file("admin", "k0")
    assert admin.status_code == 403 and admin.json()["detail"].startswith(
        "an admin key may not do this")
    mine = api.file("arvedo", "k1").json()["complaint_id"]
    theirs = api.file("kathea", "k1", brand="Kathea", listing_id="L2").json()["complaint_id"]
    assert api.client.get(f"/complaints/{mine}", headers=api.auth("arvedo")).status_code == 200
    hidden = api.client.get(f"/complaints/{theirs}", headers=api.auth("arvedo"))
    missing = api.client.get("/complaints/cmp_none", headers=api.auth("arvedo"))
    assert (hidden.status_code, missing.status_code) == (404, 404)  # no way to tell them apart
    assert hidden.json()["detail"] == f"no complaint {theirs!r}"
    assert api.client.get(f"/complaints/{theirs}", headers=api.auth("reviewer")).status_code == 200

    seen = api.client.get("/sellers/S1", headers=api.auth("arvedo")).json()
    assert [c["complaint_id"] for c in seen["complaints"]] == [mine]
    full = api.client.get("/sellers/S1", headers=api.auth("reviewer")).json()
    assert {c["complaint_id"] for c in full["complaints"]} == {mine, theirs}


def test_a_brand_cannot_complain_about_a_listing_under_another_seller(api: Api) -> None:
    assert api.file("arvedo", "k1").status_code == 201  # L1, S1
    refused = api.file("kathea", "k2", brand="Kathea", seller_id="S2")  # L1 again, as S2's
    assert refused.status_code == 409, refused.text
    assert "not a listing of seller 'S2'" in refused.json()["detail"]
    assert api.client.get("/sellers/S2", headers=api.auth("reviewer")).json()["complaints"] == []


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"reason": "x"}, {}, "Idempotency-Key"),
        ({"reason": "   "}, {"Idempotency-Key": "k"}, "reason"),
        ({"reason": "x", "listing_id": ""}, {"Idempotency-Key": "k"}, "listing_id"),
        ({"reason": "x", "price": 3}, {"Idempotency-Key": "k"}, "price"),
        ({"reason": "x" * 5000}, {"Idempotency-Key": "k"}, "reason"),
        ({"reason": "\ud800"}, {"Idempotency-Key": "k"}, "reason"),
        ({"reason": float("nan")}, {"Idempotency-Key": "k"}, "reason"),  # Python's json reads
        ({"reason": "x", "brand": float("inf")}, {"Idempotency-Key": "k"}, "brand"),  # NaN
    ],
)
def test_bad_requests_are_422_naming_the_field(api: Api, body: dict[str, object],
                                               headers: dict[str, str], field: str) -> None:
    payload = {"listing_id": "L1", "seller_id": "S1", "brand": "Arvedo", **body}
    # json.dumps escapes a lone surrogate as \ud800 and writes NaN and Infinity, as a
    # hostile client could send them
    response = api.client.post("/complaints", content=json.dumps(payload),
                               headers=api.auth("arvedo", **headers,
                                                **{"Content-Type": "application/json"}))
    assert response.status_code == 422, response.text
    assert field in {str(part) for e in response.json()["detail"] for part in e["loc"]}


def test_a_body_of_another_type_than_json_is_a_415(api: Api) -> None:
    body = json.dumps({"listing_id": "L1", "seller_id": "S1", "brand": "Arvedo",
                       "reason": "fake"})
    for media in ("text/plain", "application/x-www-form-urlencoded"):
        response = api.client.post("/complaints", content=body, headers=api.auth(
            "arvedo", **{"Idempotency-Key": f"k-{media}", "Content-Type": media}))
        assert response.status_code == 415 and "JSON" in response.text, (media, response.text)
    typed = api.client.post("/complaints", content=body, headers=api.auth(
        "arvedo", **{"Idempotency-Key": "k-json", "Content-Type": "application/json"}))
    assert typed.status_code == 201, typed.text


def test_a_refused_long_text_is_not_echoed_back_whole(api: Api) -> None:
    response = api.file("arvedo", "k-long", reason="x" * 1_500_000)
    assert response.status_code == 422
    assert len(response.content) < 2_000 and "1,500,000 characters" in response.text


def test_a_nul_in_an_id_of_the_path_is_a_422_on_every_database(any_api: Api) -> None:
    """PostgreSQL's text holds no NUL character: such an id is refused, never a 500."""
    for method, path, body in (("get", "/sellers/a%00b", None), ("get", "/complaints/a%00b", None),
                               ("post", "/complaints/a%00b/decision", {"decision": "upheld"}),
                               ("post", "/sellers/a%00b/unfreeze", {"reason": "appeal won"})):
        who = "admin" if "unfreeze" in path else "reviewer"
        response = any_api.client.request(method, path, json=body, headers=any_api.auth(who))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"][0]["loc"][0] == "path", response.text


def test_bad_decisions_and_lifts_are_422(api: Api) -> None:
    cid = api.file("arvedo", "k1").json()["complaint_id"]
    assert api.decide(cid, "maybe").status_code == 422
    no_reason = api.client.post("/sellers/S1/unfreeze", json={}, headers=api.auth("admin"))
    assert no_reason.status_code == 422


def test_every_refused_call_is_logged_without_the_key(api: Api,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="strikeout.ledger.api")
    api.client.get("/sellers/S1")
    api.file("kathea", "k1")
    api.file("arvedo", "k1", reason="")
    refused = [r.getMessage() for r in caplog.records if r.name == "strikeout.ledger.api"]
    assert len(refused) == 3
    assert "-> 401" in refused[0] and "-> 403" in refused[1] and "-> 422" in refused[2]
    assert all(key not in message for message in refused for key in api.keys.values())


def test_openapi_describes_every_field(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ComplaintRequest", "DecisionRequest", "UnfreezeRequest", "ComplaintResponse",
                 "DecisionResponse", "SellerResponse"):
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"
