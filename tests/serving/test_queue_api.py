"""The queue's HTTP routes and the review page's server side, through the ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.keys import create_key
from serving.ledger_app import create_app
from serving.queue import ReviewQueue
from serving.settings import LedgerSettings
from tests.conftest import write_lock_held
from tests.serving.queue_data import complain, open_queue, score


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]

    def auth(self, who: str = "reviewer") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, path: str, who: str = "reviewer", **params: object):  # noqa: ANN201
        return self.client.get(path, headers=self.auth(who), params=params)

    def post(self, path: str, body: dict, who: str = "reviewer"):  # noqa: ANN201
        return self.client.post(path, json=body, headers=self.auth(who))


def seed(queue: ReviewQueue) -> None:
    """Five cases: two highs and two reviews from the model, one complaint never scored."""
    score(queue, "bag-high", 0.97, "high", price=89.0, quantity=20)
    score(queue, "watch-high", 0.81, "high", seller="S2", brand="Tempora", category="watches",
          price=120.0, reference=None)
    score(queue, "bag-review", 0.45, "review", price=300.0, quantity=3)
    score(queue, "case-review", 0.40, "review", seller="S3", brand="Kathea",
          category="phone_accessories", price=9.0, reference=None)
    complain(queue.ledger, "bag-high")
    complain(queue.ledger, "reported", seller="S4", brand="Kathea")


def make_api(url: str, **settings: object) -> Iterator[Api]:
    chosen = LedgerSettings(ledger_url=url, **settings)  # type: ignore[arg-type]
    queue = open_queue(url)
    keys = {"reviewer": create_key(queue.ledger.store, "reviewer").key,
            "reviewer2": create_key(queue.ledger.store, "reviewer").key,
            "senior": create_key(queue.ledger.store, "senior").key,
            "admin": create_key(queue.ledger.store, "admin").key,
            "brand": create_key(queue.ledger.store, "brand", "Arvedo").key,
            "scorer": create_key(queue.ledger.store, "scorer").key}
    seed(queue)
    queue.close()
    with TestClient(create_app(chosen)) as client:
        yield Api(client, keys)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from make_api(sqlite_url)


@pytest.fixture
def any_api(ledger_url: str) -> Iterator[Api]:
    yield from make_api(ledger_url)


def test_queue_lists_waiting_cases_by_priority_with_filters(api: Api) -> None:
    response = api.get("/queue")
    assert response.status_code == 200, response.text
    cases = response.json()["cases"]
    assert [c["listing_id"] for c in cases][:2] == ["bag-high", "watch-high"]
    assert [c["priority"] for c in cases] == sorted((c["priority"] for c in cases), reverse=True)
    first = cases[0]
    assert first["sources"] == ["model", "complaint"] and first["complaints"] == 1
    assert first["harm_usd"] == pytest.approx(0.97 * 89.0 * 20)
    assert first["title"].startswith("Arvedo")
    assert [c["listing_id"] for c in api.get("/queue", band="review").json()["cases"]] == [
        "bag-review", "case-review"]
    assert {c["listing_id"] for c in api.get("/queue", brand="Kathea").json()["cases"]} == {
        "case-review", "reported"}
    assert [c["listing_id"] for c in api.get("/queue", source="complaint").json()["cases"]
            ] == ["bag-high", "reported"]
    assert [c["listing_id"] for c in api.get("/queue", seller="S2").json()["cases"]] == [
        "watch-high"]
    assert [c["listing_id"] for c in api.get("/queue", category="watches").json()["cases"]
            ] == ["watch-high"]
    assert len(api.get("/queue", limit=2).json()["cases"]) == 2


def test_bad_queue_requests_are_4xx_naming_the_field(api: Api) -> None:
    for params, field in (({"band": "medium"}, "band"), ({"limit": 0}, "limit"),
                          ({"source": "rumour"}, "source"), ({"tier": "gold"}, "tier")):
        response = api.get("/queue", **params)
        assert response.status_code == 422 and field in response.text
    response = api.post("/queue/claim", {"limit": 1000})
    assert response.status_code == 422 and "limit" in response.text
    response = api.post("/queue/claim", {"colour": "red"})
    assert response.status_code == 422 and "colour" in response.text
    for limit in (True, "5", 1.5):  # a count is a JSON integer: nothing is coerced into one
        response = api.post("/queue/claim", {"limit": limit})
        assert response.status_code == 422 and "limit" in response.text, limit


def test_a_nul_in_an_id_is_a_422_on_every_database(any_api: Api) -> None:
    """PostgreSQL's text holds no NUL character: such an id is refused, never a 500."""
    for field in ("seller", "brand", "category"):
        response = any_api.get("/queue", **{field: "a\x00b"})
        assert response.status_code == 422 and field in response.text, response.text
    for path in ("/cases/a%00b", "/review/cases/a%00b"):
        response = any_api.client.get(path, headers=any_api.auth())
        assert response.status_code == 422, (path, response.text)
    response = any_api.post("/cases/a%00b/decision", {"decision": "counterfeit"})
    assert response.status_code == 422, response.text


def test_keys_and_roles(api: Api) -> None:
    assert api.client.get("/queue").status_code == 401
    assert api.client.get("/queue", headers={"Authorization": "Bearer sk_nope"}
                          ).status_code == 401
    for who in ("brand", "scorer"):
        assert api.get("/queue", who=who).status_code == 403
        assert api.post("/queue/claim", {}, who=who).status_code == 403
        assert api.get("/queue/stats", who=who).status_code == 403
    assert api.get("/queue/stats", who="admin").status_code == 200
    assert api.post("/queue/claim", {}, who="admin").status_code == 403  # deciding is reviewers'


def test_claim_returns_full_cases_and_no_case_twice(any_api: Api) -> None:
    api = any_api
    first = api.post("/queue/claim", {"limit": 2})
    assert first.status_code == 200, first.text
    batch = first.json()
    assert batch["lease_minutes"] == 30
    top = batch["cases"][0]
    assert top["listing_id"] == "bag-high"
    assert top["claimed_by"].startswith("reviewer/")
    assert top["price"]["reference_price_usd"] == pytest.approx(1355.05)
    assert top["price"]["ratio"] == pytest.approx(89.0 / 1355.05)
    assert top["reasons"][0]["text"] == "price 93% below the brand's reference"
    assert top["complaint_list"][0]["brand"] == "Arvedo"
    assert top["seller"]["country"] == "CN" and top["seller"]["account_age_days"] > 0
    assert top["listing"]["quantity"] == 20
    second = api.post("/queue/claim", {"limit": 10}, who="reviewer2").json()["cases"]
    mine = {c["case_id"] for c in batch["cases"]}
    theirs = {c["case_id"] for c in second}
    assert len(theirs) == 3 and not mine & theirs
    assert api.get("/queue").json()["cases"] == []


def test_a_reviewer_renews_the_leases_it_holds(api: Api) -> None:
    cases = [c["case_id"] for c in api.post("/queue/claim", {"limit": 2}).json()["cases"]]
    theirs = api.post("/queue/claim", {"limit": 1}, who="reviewer2").json()["cases"][0]
    renewed = api.post("/queue/renew", {"case_ids": [*cases, theirs["case_id"]]})
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert (body["renewed"], body["lost"]) == (cases, [theirs["case_id"]])
    assert body["lease_minutes"] == 30 and body["lease_expires_at"].endswith("Z")
    shown = api.get(f"/cases/{cases[0]}").json()
    assert shown["lease_expires_at"] == body["lease_expires_at"]
    for bad in ({"case_ids": []}, {"case_ids": ["x"] * 201}, {"case_ids": "case_1"}, {}):
        refused = api.post("/queue/renew", bad)
        assert refused.status_code == 422 and "case_ids" in refused.text, bad
    assert api.post("/queue/renew", {"case_ids": cases}, who="admin").status_code == 403


@pytest.fixture
def busy_api(tmp_path: Path) -> Iterator[Api]:
    """An API whose writes give up on a held SQLite write lock within a tenth of a second."""
    yield from make_api(f"sqlite:///{tmp_path / 'ledger.sqlite'}", busy_timeout_s=0.05,
                        write_attempts=2)


def test_a_busy_ledger_is_503_with_retry_after_not_a_500(busy_api: Api, tmp_path: Path
                                                         ) -> None:
    """Another process holds the SQLite write lock past the timeout: claims and renewals
    are refused with a 503 the page and clients retry, and nothing is half written."""
    api = busy_api
    cases = [c["case_id"] for c in api.post("/queue/claim", {"limit": 2}).json()["cases"]]
    with write_lock_held(tmp_path / "ledger.sqlite"):
        for path, body in (("/queue/claim", {}), ("/queue/renew", {"case_ids": cases})):
            refused = api.post(path, body)
            assert refused.status_code == 503, (path, refused.text)
            assert refused.headers["Retry-After"] == "1"
    assert api.post("/queue/renew", {"case_ids": cases}).json()["renewed"] == cases


def test_decisions_strike_through_the_ledger_and_twice_is_409(any_api: Api) -> None:
    api = any_api
    [case] = api.post("/queue/claim", {"limit": 1}).json()["cases"]
    url = f"/cases/{case['case_id']}/decision"
    decided = api.post(url, {"decision": "counterfeit", "note": "logo misspelt"})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["listing_taken_down"] and body["status"] == "decided"
    assert [c["strike_recorded"] for c in body["complaints"]] == [True]
    seller = api.get("/sellers/S1").json()
    assert seller["strikes_by_brand"] == {"Arvedo": 1}
    assert seller["complaints"][0]["status"] == "upheld"

    again = api.post(url, {"decision": "not_counterfeit"})
    assert again.status_code == 409 and "already decided" in again.json()["detail"]
    assert api.get("/sellers/S1").json()["strikes_by_brand"] == {"Arvedo": 1}
    shown = api.get(f"/cases/{case['case_id']}").json()
    assert (shown["decision"], shown["note"], shown["status"]) == (
        "counterfeit", "logo misspelt", "decided")
    assert [e["type"] for e in shown["history"]] == [
        "case_opened", "case_claimed", "case_decided", "listing_taken_down"]


def test_a_complaint_under_another_reviewers_lease_is_decided_by_the_holder(
        any_api: Api) -> None:
    """Deciding the complaint outside the queue would strike the seller, close the case
    under its holder and leave the listing up: 409 while the lease lasts."""
    api = any_api
    [case] = api.post("/queue/claim", {"limit": 1}).json()["cases"]
    assert case["listing_id"] == "bag-high" and case["complaints"] == 1
    [complaint] = [c["complaint_id"] for c in api.get("/sellers/S1").json()["complaints"]]
    around = api.post(f"/complaints/{complaint}/decision", {"decision": "upheld"},
                      who="reviewer2")
    assert around.status_code == 409, around.text
    assert case["case_id"] in around.json()["detail"] and "claimed by" in around.json()["detail"]
    assert api.get("/sellers/S1").json()["strikes_by_brand"] == {}
    decided = api.post(f"/cases/{case['case_id']}/decision", {"decision": "counterfeit"})
    assert decided.status_code == 200 and decided.json()["listing_taken_down"], decided.text
    assert api.get("/sellers/S1").json()["strikes_by_brand"] == {"Arvedo": 1}


def test_decision_errors(api: Api) -> None:
    [case] = api.post("/queue/claim", {"limit": 1}).json()["cases"]
    url = f"/cases/{case['case_id']}/decision"
    assert api.post(url, {"decision": "maybe"}).status_code == 422
    assert api.post(url, {"decision": "counterfeit", "note": ""}).status_code == 422
    assert api.post("/cases/case_999/decision", {"decision": "escalate"}).status_code == 404
    leased = api.post(url, {"decision": "counterfeit"}, who="reviewer2")
    assert leased.status_code == 409 and "claimed by" in leased.json()["detail"]
    assert api.post(url, {"decision": "escalate"}).json()["tier"] == "senior"
    assert api.post(url, {"decision": "escalate"}).status_code == 409
    senior = api.get("/queue", tier="senior").json()["cases"]
    assert [c["case_id"] for c in senior] == [case["case_id"]]
    assert api.get("/cases/nope").status_code == 404


def test_the_senior_queue_is_for_senior_keys(api: Api) -> None:
    [case] = api.post("/queue/claim", {"limit": 1}).json()["cases"]
    url = f"/cases/{case['case_id']}/decision"
    assert api.post(url, {"decision": "escalate"}).json()["tier"] == "senior"
    refused = api.post("/queue/claim", {"tier": "senior"})
    assert refused.status_code == 403 and "senior" in refused.json()["detail"]
    refused = api.post(url, {"decision": "counterfeit"})  # the escalating reviewer, too
    assert refused.status_code == 403 and "senior reviewer" in refused.json()["detail"]
    [claimed] = api.post("/queue/claim", {"tier": "senior"}, who="senior").json()["cases"]
    assert claimed["case_id"] == case["case_id"]
    decided = api.post(url, {"decision": "counterfeit"}, who="senior")
    assert decided.status_code == 200 and decided.json()["status"] == "decided"
    standard = api.post("/queue/claim", {"limit": 1}, who="senior")  # seniors work both
    assert standard.status_code == 200


def test_stats(api: Api) -> None:
    api.post("/queue/claim", {"limit": 2})
    stats = api.get("/queue/stats").json()
    assert (stats["open"], stats["claimed"], stats["decided_today"]) == (3, 2, 0)
    assert stats["by_band"]["high"] == {"waiting": 0, "claimed": 2}
    assert stats["by_band"]["unscored"] == {"waiting": 1, "claimed": 0}
    assert stats["oldest_open_age_s"] > 0


def test_the_review_page_and_its_fragments(api: Api) -> None:
    page = api.client.get("/review")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for shortcut in ("next case", "counterfeit", "not counterfeit", "escalate",
                     "select for bulk"):
        assert shortcut in page.text
    assert 'src="review/static/review.js"' in page.text
    js = api.client.get("/review/static/review.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert api.client.get("/review/static/review.css").headers["content-type"].startswith(
        "text/css")
    assert api.client.get("/review/static/secrets.py").status_code == 404

    assert api.client.post("/review/claim", json={}).status_code == 401
    batch = api.client.post("/review/claim", json={"limit": 5}, headers=api.auth())
    assert batch.status_code == 200
    html = batch.text
    assert html.count('<section class="case-card"') == 5
    assert "93% below reference" in html and "$1,355.05" in html
    assert "Not scored: a brand reported this listing." in html
    stats = api.client.get("/review/stats", headers=api.auth()).text
    assert 'id="stat-claimed">5<' in stats


def test_listing_text_is_escaped_on_the_page(sqlite_url: str) -> None:
    queue = open_queue(sqlite_url)
    key = create_key(queue.ledger.store, "reviewer").key
    score(queue, "xss", 0.9, "high", title='<script>alert("x")</script> bag')
    queue.close()
    with TestClient(create_app(LedgerSettings(ledger_url=sqlite_url))) as client:
        html = client.post("/review/claim", json={},
                           headers={"Authorization": f"Bearer {key}"}).text
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
