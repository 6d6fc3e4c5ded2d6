"""End to end in a real headless Chromium: a reviewer signs in on `GET /review`, sees the
queue, decides cases with the keyboard, and the API, the ledger and the label export show
what was decided. Debian's `chromium` driven by Playwright, against a real uvicorn server.

Screenshots: `test-artifacts/review-page*.png` on every run; `docs/review-page.png` (the
README's) when it is missing or `STRIKEOUT_DOCS_SCREENSHOTS=1`, so test runs do not keep
rewriting a committed file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, ViewportSize, expect, sync_playwright

from features.contract import load_marketplace
from serving.keys import create_key, revoke_key
from serving.labels import export_labels
from serving.ledger.ledger import ComplaintFiling
from serving.queue import PriceReference, ReviewQueue
from serving.settings import LedgerSettings
from tests.serving.queue_data import REASONS, listing
from tests.serving.test_ledger_crash import free_port, ledger_server

pytestmark = pytest.mark.browser

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REPO_PATH = Path(__file__).resolve().parents[2]
ARTIFACTS_PATH = REPO_PATH / "test-artifacts"
DOCS_SCREENSHOT_PATH = REPO_PATH / "docs" / "review-page.png"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


def seed(home: Path) -> tuple[str, str, dict[str, str]]:
    """A reviewer key, a senior reviewer key and five open cases; seller S1 already has two
    Arvedo strikes."""
    settings = LedgerSettings(home=home)
    queue = ReviewQueue.open(settings)
    ledger = queue.ledger
    key = create_key(ledger.store, "reviewer").key
    senior_key = create_key(ledger.store, "senior").key
    now = datetime.now(UTC)
    for old in ("S1-old-1", "S1-old-2"):
        filed = ledger.file_complaint(ComplaintFiling(old, "S1", "Arvedo", "fake logo"),
                                      actor="brand:Arvedo/k", at=now - timedelta(days=20))
        ledger.decide(filed.complaint.complaint_id, "upheld", actor="reviewer/earlier",
                      at=now - timedelta(days=19))

    def scored(listing_id: str, score: float, band: str, hours_ago: float, **fields: object
               ) -> str:
        rate = fields.pop("usd_per_unit", None)
        reference = fields.pop("reference", None)
        case_id = queue.record_score(listing(listing_id, **fields), score, band,  # type: ignore[arg-type]
                                     REASONS, "strikeout-listing-risk/3",
                                     now - timedelta(hours=hours_ago), usd_per_unit=rate,
                                     reference=reference)
        assert case_id is not None
        return case_id

    cases = {
        "bag": scored("L-bag", 0.97, "high", 3, price=89.0, quantity=20,
                      title="Arvedo Grand 12 Tote — AAA mirror quality, full set with dust bag",
                      description="Top quality 1:1. Same factory leather. Fast shipping "
                                  "worldwide, PayPal accepted.",
                      reference=PriceReference("Arvedo", "handbags", 1355.05)),
        "watch": scored("L-watch", 0.88, "high", 2, seller="S2", brand="Tempora",
                        category="watches", price=150.0, quantity=5,
                        title="Tempora Diver 300 automatic, box and papers",
                        reference=PriceReference("Tempora", "watches", 4200.0)),
        "phone": scored("L-phone", 0.52, "review", 1, seller="S3", brand="Kathea",
                        category="phone_accessories", price=4.5, currency="EUR",
                        usd_per_unit=1.08, quantity=300, title="Case for Kathea 3 (compatible)"),
        "tote": scored("L-tote", 0.41, "review", 0.5, seller="S5", price=650.0,
                       title="Arvedo tote, gift, worn twice",
                       reference=PriceReference("Arvedo", "handbags", 1355.05)),
    }
    ledger.file_complaint(ComplaintFiling("L-bag", "S1", "Arvedo", "Counterfeit of our Grand 12; "
                                          "logo and stitching wrong"), actor="brand:Arvedo/k")
    ledger.file_complaint(ComplaintFiling("L-reported", "S4", "Kathea", "Sells our charger "
                                          "design under our name"), actor="brand:Kathea/k")
    queue.close()
    return key, senior_key, cases


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM_PATH.is_file():
        pytest.fail(f"{CHROMIUM_PATH} is missing; install it with: apt-get install -y chromium",
                    pytrace=False)
    return CHROMIUM_PATH


Served = tuple[str, tuple[str, str], dict[str, str], Path]


@contextmanager
def serving(home: Path, **settings: str) -> Iterator[Served]:
    key, senior_key, cases = seed(home)
    port = free_port()
    with ledger_server(home, port, key, **settings) as process:
        try:
            yield f"http://127.0.0.1:{port}", (key, senior_key), cases, home
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "home") as running:
        yield running


def current(page: Page) -> str:
    return str(page.locator("#batch li.current").get_attribute("data-case-id"))


def now_showing(page: Page, case_id: str) -> None:
    expect(page.locator("#batch li.current")).to_have_attribute("data-case-id", case_id)
    expect(page.locator(".case-card:visible")).to_have_attribute("data-case-id", case_id)


def decided(page: Page, case_id: str, status: str = "decided") -> None:
    expect(page.locator(f'#batch li[data-case-id="{case_id}"]')).to_have_attribute(
        "data-status", status)


@contextmanager
def review_page(chromium_path: Path) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()


def sign_in(page: Page, base: str, key: str, query: str = "") -> None:
    page.goto(f"{base}/review{query}")
    page.fill("#key", key)
    page.press("#key", "Enter")


def add_case(home: Path, listing_id: str, **fields: object) -> str:
    """One more listing scored high, at the top of the queue, in the running server's
    ledger; returns its case id."""
    queue = ReviewQueue.open(LedgerSettings(home=home))
    try:
        scored = listing(listing_id, price=5000.0, quantity=100, **fields)  # type: ignore[arg-type]
        case_id = queue.record_score(scored, 0.99, "high", REASONS, "strikeout-listing-risk/3",
                                     datetime.now(UTC))
    finally:
        queue.close()
    assert case_id is not None
    return case_id


def new_reviewer(home: Path) -> tuple[str, str]:
    """Another reviewer's key and its key id."""
    queue = ReviewQueue.open(LedgerSettings(home=home))
    try:
        issued = create_key(queue.ledger.store, "reviewer")
    finally:
        queue.close()
    return issued.key, issued.principal.key_id


def fail_with(status: int, detail: str) -> Callable[[Route], None]:
    """A route handler that answers every request it catches with `status` and `detail`."""
    return lambda route: route.fulfill(status=status, content_type="application/json",
                                       body=f'{{"detail": "{detail}"}}')


def type_note(page: Page, text: str) -> None:
    """Type a note for the case on screen, as a reviewer does: `/`, the text, Escape."""
    page.keyboard.press("/")
    page.keyboard.type(text)
    page.keyboard.press("Escape")


def case_via_api(base: str, key: str, case_id: str) -> dict[str, object]:
    response = httpx.get(f"{base}/cases/{case_id}", headers={"Authorization": f"Bearer {key}"},
                         timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_reviewer_clears_the_queue_with_the_keyboard(
        chromium_path: Path, served: Served) -> None:
    base, (key, senior_key), cases, home = served
    ARTIFACTS_PATH.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{base}/review")
            expect(page.locator("#sign-in")).to_be_visible()
            page.fill("#key", "sk_wrong")
            page.press("#key", "Enter")
            expect(page.locator("#sign-in-error")).to_contain_text("unknown key")

            page.fill("#key", key)
            page.press("#key", "Enter")
            expect(page.locator("#batch li")).to_have_count(5)
            expect(page.locator("#stat-claimed")).to_have_text("5")
            expect(page.locator(".shortcuts")).to_contain_text("not counterfeit")
            card = page.locator(".case-card:visible")
            now_showing(page, cases["bag"])
            expect(card.locator(".title")).to_contain_text("AAA mirror quality")
            expect(card.locator(".ratio")).to_have_text("93% below reference")
            expect(card.locator(".complaints")).to_contain_text("logo and stitching wrong")
            expect(card.locator(".seller")).to_contain_text("Arvedo 2")
            expect(card.locator(".why")).to_contain_text("price 93% below the brand's reference")
            page.screenshot(path=str(ARTIFACTS_PATH / "review-page.png"))
            if not DOCS_SCREENSHOT_PATH.exists() or os.environ.get("STRIKEOUT_DOCS_SCREENSHOTS"):
                page.screenshot(path=str(DOCS_SCREENSHOT_PATH))

            # j / k move without deciding
            page.keyboard.press("j")
            now_showing(page, cases["watch"])
            page.keyboard.press("k")
            now_showing(page, cases["bag"])

            page.keyboard.press("c")  # the third Arvedo strike: S1 freezes
            decided(page, cases["bag"])
            expect(page.locator("#message")).to_contain_text("seller frozen")
            expect(page.locator(f'.case-card[data-case-id="{cases["bag"]}"] .frozen')
                   ).to_have_count(1)
            now_showing(page, cases["watch"])  # the next case, without a page load
            page.keyboard.press("n")
            decided(page, cases["watch"])
            expect(page.locator(".case-card:visible")).to_contain_text("Not scored")
            reported = current(page)
            page.keyboard.press("e")
            decided(page, reported, "escalated")

            # bulk: select the two remaining cases and decide both at once
            now_showing(page, cases["phone"])
            page.keyboard.press("x")
            page.keyboard.press("j")
            page.keyboard.press("x")
            expect(page.locator("#batch li.selected")).to_have_count(2)
            type_note(page, "both: replica listings")
            page.keyboard.press("c")
            # the batch is done, so the page claims again at once: the outcome message stays
            expect(page.locator("#message")).to_contain_text(
                f"{cases['phone']}: counterfeit, listing taken down · "
                f"{cases['tote']}: counterfeit, listing taken down")
            expect(page.locator("#batch .empty")).to_be_visible()
            expect(page.locator("#stat-decided")).to_have_text("4")
            page.screenshot(path=str(ARTIFACTS_PATH / "review-page-done.png"))

            # the senior queue refuses a reviewer key and takes a senior reviewer's
            page.click("#other-tier")
            expect(page.locator("#sign-in-error")).to_contain_text("senior reviewer key")
            page.fill("#key", senior_key)
            page.press("#key", "Enter")
            expect(page.locator("#tier")).to_have_text("senior queue")
            expect(page.locator("#batch li")).to_have_count(1)
            now_showing(page, reported)
            expect(page.locator('.shortcuts [data-key="e"]')).to_be_hidden()
            page.keyboard.press("e")  # escalated already: said so, and the case stays open
            expect(page.locator("#message")).to_contain_text("decide the case with c / n")
            page.keyboard.press("c")
            expect(page.locator("#message")).to_contain_text(
                f"{reported}: counterfeit, listing taken down, 1 strike")
            expect(page.locator("#batch .empty")).to_be_visible()
        finally:
            browser.close()

    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as api:
        bag = api.get(f"/cases/{cases['bag']}").json()
        assert (bag["decision"], bag["status"]) == ("counterfeit", "decided")
        assert bag["complaint_list"][0]["status"] == "upheld"
        assert api.get(f"/cases/{cases['watch']}").json()["decision"] == "not_counterfeit"
        phone = api.get(f"/cases/{cases['phone']}").json()
        assert (phone["decision"], phone["note"]) == ("counterfeit", "both: replica listings")
        escalated = api.get(f"/cases/{reported}").json()
        assert (escalated["status"], escalated["tier"]) == ("decided", "senior")
        assert [e["type"] for e in escalated["history"]] == [
            "case_claimed", "case_decided", "case_claimed", "case_decided", "listing_taken_down"]
        assert api.get("/sellers/S4").json()["strikes_by_brand"] == {"Kathea": 1}
        seller = api.get("/sellers/S1").json()
        assert seller["frozen"] and seller["strikes_by_brand"] == {"Arvedo": 3}
        stats = api.get("/queue/stats").json()
        assert (stats["decided_today"], stats["open"], stats["claimed"]) == (5, 0, 0)

    queue = ReviewQueue.open(LedgerSettings(home=home))
    try:
        result = export_labels(queue.ledger, home / "labels")
        assert queue.ledger.verify().ok
    finally:
        queue.close()
    assert (result.counterfeit, result.not_counterfeit) == (3, 1)
    assert result.skipped_unscored == 1  # the reported listing was never scored
    labels = load_marketplace(home / "labels").listings.set_index("listing_id")["label"]
    assert labels.to_dict() == {"L-bag": 1, "L-watch": 0, "L-phone": 1, "L-tote": 1}


def test_a_queue_that_cannot_be_reached_keeps_the_key_and_is_tried_again(
        chromium_path: Path, served: Served) -> None:
    base, (key, _), _, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.route("**/review/stats", lambda route: route.fulfill(
                status=503, content_type="application/json",
                body='{"detail": "the ledger is not open yet"}'))
            page.goto(f"{base}/review")
            page.fill("#key", key)
            page.press("#key", "Enter")
            expect(page.locator("#sign-in-error")).to_contain_text(
                "the ledger is not open yet); trying again")
            assert page.evaluate("sessionStorage.getItem('strikeout.reviewerKey')") == key
            page.unroute("**/review/stats")  # the queue is back: the page signs in by itself
            expect(page.locator("#desk")).to_be_visible(timeout=15_000)
        finally:
            browser.close()


def test_the_page_renews_its_claims_while_the_reviewer_works(
        chromium_path: Path, tmp_path: Path) -> None:
    """With 4.8-second leases, renewed every 1.6 s: a reviewer who keeps working holds the
    batch past its first lease; once the page sits idle the cases go back to the queue,
    and the page says so when the reviewer returns."""
    home = tmp_path / "home"
    with serving(home, review_lease_minutes="0.08") as (base, (key, _), _, _):
        queue = ReviewQueue.open(LedgerSettings(home=home))
        other = create_key(queue.ledger.store, "reviewer").key
        queue.close()

        def claimed_by_other(limit: int) -> list[str]:
            response = httpx.post(f"{base}/queue/claim", json={"limit": limit},
                                  headers={"Authorization": f"Bearer {other}"}, timeout=10)
            assert response.status_code == 200, response.text
            return [c["case_id"] for c in response.json()["cases"]]

        def once_idle_other_holds(count: int, limit: int) -> list[str]:
            """What the other reviewer holds once it holds `count` (its claims return
            its own live leases first, then what the page's idle leases let go)."""
            deadline = time.monotonic() + 60  # idle: gone within a lease and a third
            held = claimed_by_other(limit)
            while len(held) < count and time.monotonic() < deadline:
                time.sleep(0.5)
                held = claimed_by_other(limit)
            return held

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(f"{base}/review")
                page.fill("#key", key)
                page.press("#key", "Enter")
                expect(page.locator("#batch li")).to_have_count(5)
                expect(page.locator(".lease")).to_contain_text("renewed while you work")
                working_until = time.monotonic() + 7.0  # well past the first lease
                while time.monotonic() < working_until:
                    page.keyboard.press("j")
                    page.wait_for_timeout(300)
                assert claimed_by_other(10) == []  # still the reviewer's

                first = once_idle_other_holds(2, limit=2)
                assert len(first) == 2
                page.keyboard.press("k")  # back at work: the next renewal finds two gone
                expect(page.locator('#batch li[data-status="claimed-elsewhere"]')
                       ).to_have_count(2, timeout=15_000)
                expect(page.locator("#message")).to_contain_text(
                    "2 cases went back to the queue while the page was idle; j / k to the "
                    "others")
                assert claimed_by_other(10) == first  # the three lapsed ones were renewed

                assert len(once_idle_other_holds(5, limit=10)) == 5
                page.keyboard.press("k")  # none left: the page claims a new batch
                expect(page.locator("#message")).to_contain_text(
                    "3 cases went back to the queue while the page was idle; here is a new "
                    "batch", timeout=15_000)
                expect(page.locator("#batch .empty")).to_be_visible()  # the other has all
            finally:
                browser.close()


def test_a_held_decision_key_decides_only_the_case_on_screen(
        chromium_path: Path, served: Served) -> None:
    """Holding `c` down repeats its keydown; the repeats must not decide the cases the page
    moves on to, which the reviewer has not seen."""
    base, (key, _), cases, _ = served
    with review_page(chromium_path) as page:
        sign_in(page, base, key)
        expect(page.locator("#batch li")).to_have_count(5)
        now_showing(page, cases["bag"])
        page.keyboard.down("c")
        for _ in range(3):
            page.keyboard.down("c")  # auto-repeat: `event.repeat` is true
        page.keyboard.up("c")
        decided(page, cases["bag"])
        now_showing(page, cases["watch"])
        page.keyboard.press("n")  # a fresh press decides the case now on screen
        expect(page.locator("#message")).to_contain_text(f"{cases['watch']}: not counterfeit")
        expect(page.locator('#batch li[data-status="open"]')).to_have_count(3)
    assert case_via_api(base, key, cases["watch"])["decision"] == "not_counterfeit"
    assert case_via_api(base, key, cases["phone"])["status"] == "open"


def test_a_slow_save_shows_saving_and_moving_on_does_not_wait_for_it(
        chromium_path: Path, served: Served) -> None:
    """While a decision is being saved, its case takes no second decision and says so; `j`
    moves at once, and the page does not move on again when the save ends."""
    base, (key, _), cases, _ = served
    held: list[Route] = []
    with review_page(chromium_path) as page:
        page.route("**/cases/*/decision", lambda route: held.append(route))  # answered later
        sign_in(page, base, key)
        now_showing(page, cases["bag"])
        page.keyboard.press("c")
        bag = page.locator(f'#batch li[data-case-id="{cases["bag"]}"]')
        expect(bag.locator(".item-state")).to_have_text("saving…")
        page.keyboard.press("c")  # the same case again, while it saves
        expect(page.locator("#message")).to_have_text(f"{cases['bag']} is still being saved.")
        page.keyboard.press("j")
        now_showing(page, cases["watch"])  # at once, not after the save
        deadline = time.monotonic() + 10
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert len(held) == 1
        held[0].continue_()
        expect(page.locator("#message")).to_contain_text(f"{cases['bag']}: counterfeit")
        decided(page, cases["bag"])
        now_showing(page, cases["watch"])  # the reviewer had moved on: no advance past it


def test_a_saved_decision_stays_saved_when_the_page_cannot_read_the_case_again(
        chromium_path: Path, served: Served) -> None:
    """The decision's answer is what counts: a failed re-read of the case does not make a
    saved decision look failed, and in a bulk run one failure keeps the others' outcomes."""
    base, (key, _), cases, _ = served
    with review_page(chromium_path) as page:
        sign_in(page, base, key)
        now_showing(page, cases["bag"])
        page.route("**/review/cases/**", fail_with(503, "busy"))
        page.keyboard.press("c")
        decided(page, cases["bag"])
        expect(page.locator("#message")).to_have_text(
            f"{cases['bag']}: counterfeit, listing taken down, 1 strike, seller frozen")
        now_showing(page, cases["watch"])
        page.unroute("**/review/cases/**")

        page.keyboard.press("x")
        page.keyboard.press("j")
        reported = current(page)
        page.route(f"**/cases/{reported}/decision", fail_with(503, "the ledger is busy"))
        page.keyboard.press("x")
        page.keyboard.press("j")
        page.keyboard.press("x")
        page.keyboard.press("n")
        message = page.locator("#message")
        expect(message).to_have_text(
            f"{cases['watch']}: not counterfeit · {reported}: not saved, the ledger is busy · "
            f"{cases['phone']}: not counterfeit")
        expect(message).to_have_class("message bad")
        decided(page, cases["watch"])
        decided(page, cases["phone"])
        decided(page, reported, "open")
        expect(page.locator("#batch li.selected")).to_have_count(1)  # only the one not saved
        expect(page.locator("#batch li.selected")).to_have_attribute("data-case-id", reported)


def test_an_empty_batch_asks_for_new_work(chromium_path: Path, tmp_path: Path) -> None:
    """Every case is another reviewer's: a failed claim is tried again, and the empty page
    asks for new cases by itself (every second here) and on `r`."""
    home = tmp_path / "home"
    with serving(home) as (base, (key, _), _, _):
        other, _ = new_reviewer(home)
        taken = httpx.post(f"{base}/queue/claim", json={"limit": 10}, timeout=10,
                           headers={"Authorization": f"Bearer {other}"})
        assert len(taken.json()["cases"]) == 5
        with review_page(chromium_path) as page:
            page.route("**/review/claim", fail_with(503, "the ledger is not open yet"))
            sign_in(page, base, key, "?refill_s=1")
            expect(page.locator("#message")).to_contain_text(
                "Cannot claim cases: the ledger is not open yet; trying again in 1 s")
            page.unroute("**/review/claim")
            expect(page.locator("#batch .empty")).to_be_visible()  # tried again
            expect(page.locator("#message")).to_have_text("")
            expect(page.locator('.shortcuts [data-key="r"]')).to_contain_text("new cases")
            page.keyboard.press("c")
            expect(page.locator("#message")).to_contain_text("r looks for new cases")

            fresh = add_case(home, "L-fresh")
            expect(page.locator("#batch li")).to_have_count(1)  # found without a key
            now_showing(page, fresh)
            expect(page.locator("#stat-claimed")).to_have_text("6")
            page.keyboard.press("c")
            decided(page, fresh)
            expect(page.locator("#batch .empty")).to_be_visible()

            page.goto(f"{base}/review")  # the usual interval: longer than this test waits
            expect(page.locator("#batch .empty")).to_be_visible()
            later = add_case(home, "L-later")
            page.keyboard.press("r")
            now_showing(page, later)
            expect(page.locator("#stat-claimed")).to_have_text("6")


def meta_ids(page: Page) -> list[float]:
    """Where the case panel's listing, seller and case ids start, left to right."""
    boxes = [code.bounding_box() for code in page.locator(".case-card:visible .meta code").all()]
    return [box["x"] for box in boxes if box is not None]


def test_a_bidi_override_in_a_listing_id_does_not_reorder_the_case_line(
        chromium_path: Path, served: Served) -> None:
    base, (key, _), _, home = served
    spoofed = add_case(home, "L-\u202etxet-desrever", seller="S-\u202eesrever")
    with review_page(chromium_path) as page:
        sign_in(page, base, key)
        now_showing(page, spoofed)
        listing_x, seller_x, case_x = meta_ids(page)
        assert listing_x < seller_x < case_x
        head = page.locator(".case-card:visible .seller h3")
        frozen_free = head.locator("bdi").bounding_box()
        assert frozen_free is not None
        seller_word = head.evaluate("h => { const r = document.createRange(); "
                                    "r.setStart(h.firstChild, 0); r.setEnd(h.firstChild, 6); "
                                    "return r.getBoundingClientRect().x; }")
        assert seller_word < frozen_free["x"]  # "Seller" before the id, not after it


def test_ids_of_200_characters_wrap_inside_the_case_panel(
        chromium_path: Path, served: Served) -> None:
    base, (key, _), _, home = served
    long_case = add_case(home, "L" + "0123456789" * 19 + "987654321",
                         seller="S" + "9876543210" * 19 + "012345678")
    with review_page(chromium_path) as page:
        sign_in(page, base, key)
        now_showing(page, long_case)
        overflow = page.evaluate("""() => [
            document.querySelector("#case"),
            document.querySelector(".case-card:not([hidden]) .meta"),
            document.querySelector(".case-card:not([hidden]) .seller h3"),
        ].map((e) => e.scrollWidth - e.clientWidth)""")
        assert overflow == [0, 0, 0]


def test_a_case_another_reviewer_took_over_says_who_holds_it(
        chromium_path: Path, tmp_path: Path) -> None:
    """With 3-second leases and an idle page, another reviewer claims the case on screen;
    deciding it says that reviewer holds it, the first time and every time after."""
    home = tmp_path / "home"
    with serving(home, review_lease_minutes="0.05") as (base, (key, _), cases, _):
        other, other_id = new_reviewer(home)
        with review_page(chromium_path) as page:
            sign_in(page, base, key)
            now_showing(page, cases["bag"])
            deadline = time.monotonic() + 30
            taken: list[dict[str, object]] = []
            while not taken and time.monotonic() < deadline:  # once the page's lease lapses
                page.wait_for_timeout(500)
                taken = httpx.post(f"{base}/queue/claim", json={"limit": 1}, timeout=10,
                                   headers={"Authorization": f"Bearer {other}"}
                                   ).json()["cases"]
            assert [c["case_id"] for c in taken] == [cases["bag"]]
            page.keyboard.press("c")
            message = page.locator("#message")
            expect(message).to_contain_text(
                f"{cases['bag']}: not saved, another reviewer holds it (case {cases['bag']} is "
                f"claimed by reviewer/{other_id} until")
            decided(page, cases["bag"], "claimed-elsewhere")
            now_showing(page, cases["watch"])  # out of play: the page moved on
            page.keyboard.press("k")
            now_showing(page, cases["bag"])
            page.keyboard.press("c")
            expect(message).to_contain_text(
                f"This case is no longer yours: another reviewer holds it (case {cases['bag']} "
                f"is claimed by reviewer/{other_id}")
        assert case_via_api(base, other, cases["bag"])["status"] == "open"


def test_a_key_revoked_before_a_decision_says_the_decision_was_not_saved(
        chromium_path: Path, served: Served) -> None:
    base, _, cases, home = served
    key, key_id = new_reviewer(home)
    with review_page(chromium_path) as page:
        sign_in(page, base, key)
        now_showing(page, cases["bag"])
        queue = ReviewQueue.open(LedgerSettings(home=home))
        try:
            revoke_key(queue.ledger.store, key_id)
        finally:
            queue.close()
        page.keyboard.press("c")
        expect(page.locator("#sign-in-error")).to_have_text(
            f"Sign-in refused: unknown key. The decision on {cases['bag']} was not saved.")
        expect(page.locator("#sign-in")).to_be_visible()


def test_a_note_goes_with_the_case_it_was_typed_on(
        chromium_path: Path, served: Served) -> None:
    base, (key, _), cases, _ = served
    with review_page(chromium_path) as page:
        sign_in(page, base, key)
        now_showing(page, cases["bag"])
        type_note(page, "invoice checked: fake")
        page.keyboard.press("j")
        expect(page.locator("#note")).to_have_value("")
        page.keyboard.press("n")
        decided(page, cases["watch"])
        page.keyboard.press("k")
        page.keyboard.press("k")
        now_showing(page, cases["bag"])
        expect(page.locator("#note")).to_have_value("invoice checked: fake")  # kept for it
        page.keyboard.press("c")
        decided(page, cases["bag"])
        expect(page.locator("#note")).to_have_value("")
    assert case_via_api(base, key, cases["watch"])["note"] is None
    assert case_via_api(base, key, cases["bag"])["note"] == "invoice checked: fake"


def test_a_note_stays_when_a_decision_it_went_with_was_not_saved(
        chromium_path: Path, served: Served) -> None:
    """A bulk decision takes the note typed on the case on screen; if one of its cases
    is not saved, the note stays there for the second try."""
    base, (key, _), cases, _ = served
    with review_page(chromium_path) as page:
        sign_in(page, base, key)
        now_showing(page, cases["bag"])
        page.keyboard.press("x")
        page.keyboard.press("j")
        on_screen = current(page)
        page.keyboard.press("x")
        type_note(page, "seller sent an invoice")
        page.route(f"**/cases/{on_screen}/decision", fail_with(503, "the ledger is busy"))
        page.keyboard.press("n")
        expect(page.locator("#message")).to_contain_text(f"{on_screen}: not saved")
        decided(page, cases["bag"])
        decided(page, on_screen, "open")
        expect(page.locator("#note")).to_have_value("seller sent an invoice")
    assert case_via_api(base, key, cases["bag"])["note"] == "seller sent an invoice"
