"""Online features equal batch features: the service's history, ledger and ring index at work.

The dataset's history up to a moment is imported; every later listing is then scored
through `OnlineScorer` in time order (the first ones one by one, the rest in batches as
the micro-batcher would), and each listing's online features are compared with what
`pipeline.transform` computes on the whole dataset.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.columns import plain_arrays
from features.contract import Marketplace
from serving import online as online_module
from serving.batch import load_scorer
from serving.history_store import LISTING_COLUMNS, SELLER_COLUMNS, HistoryStore, taken
from serving.ledger.cases import review_cases_table
from serving.ledger.ledger import ComplaintFiling, Ledger
from serving.online import OnlineScorer, ReviewFeed, RingState
from serving.queue import ReviewQueue
from serving.settings import LedgerSettings
from tests.serving.service_support import (
    LedgerWorld,
    ModelWorld,
    before,
    cut_moment,
    later_listings,
    make_ledger,
    model_world,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("service")]
ONE_BY_ONE = 60
BATCH = 100
NO_SELLERS = pd.DataFrame({"seller_id": pd.Series(dtype="str"),
                           "registered_at": pd.Series(dtype="datetime64[ns, UTC]"),
                           "country": pd.Series(dtype="str"),
                           "business_verified": pd.Series(dtype=bool)})


@dataclass
class Online:
    world: ModelWorld
    ledger_world: LedgerWorld
    ledger: Ledger
    model: Any
    scorer: OnlineScorer

    @property
    def history(self) -> HistoryStore:
        return self.scorer.history

    def features(self, listings: pd.DataFrame, sellers: pd.DataFrame = NO_SELLERS
                 ) -> pd.DataFrame:
        """The features the scorer would compute for `listings` now (stores nothing)."""
        batch = self.scorer.prepare(plain_arrays(listings, LISTING_COLUMNS),
                                    plain_arrays(sellers, SELLER_COLUMNS))
        features = self.model.pipeline.transform(batch.market, ring_index=self.scorer.ring.index,
                                                 earlier=batch.earlier)
        return features.reset_index(drop=True)


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Online]:
    world = model_world()
    ledger_world = make_ledger(tmp_path_factory.mktemp("online"), world,
                               before(world.market, cut_moment(world.market)))
    mlflow.set_tracking_uri(world.tracking_uri)
    mlflow.set_registry_uri(world.tracking_uri)
    model = load_scorer(world.model_uri)
    ledger = ledger_world.open()
    history = HistoryStore(ledger.store)
    ring = RingState(model, history, ledger, refresh_s=0.0)
    yield Online(world, ledger_world, ledger, model, OnlineScorer(model, history, ring))
    ledger.close()


def test_online_features_equal_batch_features_for_every_later_listing(online: Online) -> None:
    market = online.world.market
    batch = online.model.pipeline.transform(market)
    later = later_listings(market, cut_moment(market))
    assert len(later) > ONE_BY_ONE + 3 * BATCH
    struck_sellers = set(online.ledger.complaints_frame().query("status == 'upheld'")["seller_id"])
    assert later["seller_id"].isin(struck_sellers).any()  # the ring index is exercised
    checked = 0
    chunks = [later.iloc[[i]] for i in range(ONE_BY_ONE)] + [
        later.iloc[i:i + BATCH] for i in range(ONE_BY_ONE, len(later), BATCH)]
    for chunk in chunks:
        online_features = online.features(chunk)
        expected = batch.loc[chunk.index]
        np.testing.assert_allclose(online_features.to_numpy(), expected.to_numpy(),
                                   rtol=1e-12, atol=1e-12,
                                   err_msg=f"listings {list(chunk['listing_id'])[:3]}")
        scored = online.scorer.score(chunk.reset_index(drop=True), NO_SELLERS)
        assert list(scored["listing_id"]) == list(chunk["listing_id"])
        np.testing.assert_allclose(scored["score"], online.model.scores(expected), rtol=1e-12)
        checked += len(chunk)
    assert checked == len(later)
    assert online.history.head().last_seq >= len(market.listings)


def listing_like(market: Marketplace, **values: Any) -> pd.DataFrame:
    row = market.listings.drop(columns=["label"]).iloc[[0]].reset_index(drop=True)
    return row.assign(**values).astype(row.dtypes.to_dict())


def test_scoring_a_listing_again_leaves_history_as_it_was(online: Online) -> None:
    market = online.world.market
    end = market.listings["created_at"].max()
    listing = listing_like(market, listing_id="again-1", created_at=end + timedelta(days=30))
    first = online.scorer.score(listing, NO_SELLERS)
    head = online.history.head()
    history_writes = []
    engine = online.ledger.store._unsynced_engine  # the history store's writes

    def began(conn: Any) -> None:
        history_writes.append(conn)

    sa.event.listen(engine, "begin", began)
    try:
        second = online.scorer.score(listing, NO_SELLERS)
    finally:
        sa.event.remove(engine, "begin", began)
    assert history_writes == []  # nothing to store: not even a transaction
    assert online.history.head() == head
    pd.testing.assert_frame_equal(first.drop(columns="reasons"), second.drop(columns="reasons"))
    stored = online.history.listings([listing.at[0, "seller_id"]])
    assert (stored["listing_id"] == "again-1").sum() == 1


def test_a_struck_sellers_listing_scored_again_adds_nothing_to_the_ring_index(
        online: Online) -> None:
    """Listing systems score a listing again on every edit: stored, it is indexed already."""
    market = online.world.market
    end = market.listings["created_at"].max() + timedelta(days=45)
    struck = sorted(set(online.ledger.complaints_frame().query("status == 'upheld'")
                        ["seller_id"]))[0]
    phrase = "Grelvaunt Osquiddle Brammelfoot genuine Wuthercliff"
    listing = listing_like(market, listing_id="again-struck", seller_id=struck,
                           created_at=end, title=phrase, description=phrase)
    before_first = online.scorer.ring.index.taint
    online.scorer.score(listing, NO_SELLERS)
    online.scorer.ring.refresh(force=True)  # where the store's new rows are read again
    indexed = online.scorer.ring.index.taint
    assert indexed is not before_first  # a struck seller's new listing is indexed
    online.scorer.score(listing.assign(title=f"{phrase} edited"), NO_SELLERS)
    assert online.scorer.ring.index.taint is indexed


def test_one_listing_twice_in_a_batch_is_scored_as_two_requests_in_turn(
        online: Online) -> None:
    market = online.world.market
    end = market.listings["created_at"].max()
    first = listing_like(market, listing_id="twice-1", created_at=end + timedelta(days=31))
    other = listing_like(market, listing_id="twice-2", created_at=end + timedelta(days=31),
                         seller_id=market.listings["seller_id"].iat[-1])
    batch = pd.concat([first, other, first.assign(price=first.at[0, "price"] / 20)],
                      ignore_index=True)
    scored = online.scorer.score(batch, NO_SELLERS)
    assert scored["listing_id"].tolist() == ["twice-1", "twice-2", "twice-1"]
    # the second round sees the first as stored: its history is that of a second request
    stored = online.history.listings([first.at[0, "seller_id"]])
    assert (stored["listing_id"] == "twice-1").sum() == 1
    alone = online.scorer.score(batch.iloc[[2]], NO_SELLERS)
    pd.testing.assert_frame_equal(scored.iloc[[2]].reset_index(drop=True).drop(columns="reasons"),
                                  alone.drop(columns="reasons"))
    assert scored.at[2, "score"] != scored.at[0, "score"]  # the price cut counted


def test_a_new_seller_given_with_its_listing_is_stored_and_used(online: Online) -> None:
    market = online.world.market
    end = market.listings["created_at"].max()
    seller = pd.DataFrame({"seller_id": ["new-seller-1"],
                           "registered_at": [end + timedelta(days=40)],
                           "country": ["CN"], "business_verified": [True]}
                          ).astype(NO_SELLERS.dtypes.to_dict())
    listing = listing_like(market, listing_id="new-seller-listing", seller_id="new-seller-1",
                           created_at=end + timedelta(days=50))
    features = online.features(listing, seller)
    assert features.at[0, "seller__account_age_days"] == pytest.approx(10.0)
    assert features.at[0, "seller__business_verified"] == 1.0
    online.scorer.score(listing, seller)
    stored = online.history.sellers(["new-seller-1"])
    pd.testing.assert_frame_equal(stored, seller[list(SELLER_COLUMNS)])


def test_new_sellers_beside_the_built_burst_index_score_as_after_a_rebuild(
        online: Online) -> None:
    """Two accounts new to the service, registered hours after a struck seller of the same
    country: kept beside the built burst index, they count as a rebuild counts them."""
    market = online.world.market
    upheld = online.ledger.complaints_frame().query("status == 'upheld'")
    known = market.sellers.set_index("seller_id")
    struck = next(s for s in upheld["seller_id"] if s in known.index)
    registered = known.at[struck, "registered_at"]
    new = pd.DataFrame({"seller_id": ["burst-1", "burst-2"],
                        "registered_at": [registered + timedelta(hours=h) for h in (1, 3)],
                        "country": [known.at[struck, "country"]] * 2,
                        "business_verified": [False, False]}).astype(NO_SELLERS.dtypes.to_dict())
    when = max(market.listings["created_at"].max(), upheld["resolved_at"].max()) + timedelta(days=1)
    first = listing_like(market, listing_id="burst-1-listing", seller_id="burst-1",
                         created_at=when)
    second = listing_like(market, listing_id="burst-2-listing", seller_id="burst-2",
                          created_at=when + timedelta(hours=1))
    online.scorer.score(first, new.iloc[[0]])
    layered = online.features(second, new.iloc[[1]])
    assert online.scorer.ring.index.bursts.new_count >= 1  # read beside the built index
    assert layered.at[0, "ring__burst_struck"] >= 1 and layered.at[0, "ring__burst_size"] >= 2
    online.scorer.ring.rebuild()
    assert online.scorer.ring.index.bursts.new is None
    rebuilt = online.features(second, new.iloc[[1]])
    pd.testing.assert_frame_equal(layered, rebuilt)


def test_a_seller_another_replica_stored_goes_beside_the_burst_index(online: Online) -> None:
    market = online.world.market
    upheld = online.ledger.complaints_frame().query("status == 'upheld'")
    known = market.sellers.set_index("seller_id")
    struck = next(s for s in upheld["seller_id"] if s in known.index)
    seller = pd.DataFrame({"seller_id": ["replica-seller"],
                           "registered_at": [known.at[struck, "registered_at"]
                                             + timedelta(hours=2)],
                           "country": [known.at[struck, "country"]],
                           "business_verified": [False]}).astype(NO_SELLERS.dtypes.to_dict())
    online.scorer.ring.rebuild()  # no seller that `features` met but nobody stored
    replica = online.ledger_world.open()  # another process's own connection to the store
    try:
        HistoryStore(replica.store).add(sellers=seller)
    finally:
        replica.close()
    when = max(market.listings["created_at"].max(), upheld["resolved_at"].max()) + timedelta(days=2)
    later = listing_like(market, listing_id="replica-seller-listing",
                         seller_id="replica-seller", created_at=when)
    counted = online.features(later)  # the refresh finds the seller
    new = online.scorer.ring.index.bursts.new
    assert new is not None and "replica-seller" in new.seller_ids
    assert counted.at[0, "ring__burst_struck"] >= 1
    online.scorer.ring.rebuild()
    pd.testing.assert_frame_equal(counted, online.features(later))


def test_a_seller_struck_online_taints_the_same_phrase_from_another_seller(
        online: Online) -> None:
    """Seller A lists, then A's listing is upheld; B's later listing reuses A's wording."""
    market = online.world.market
    end = market.listings["created_at"].max() + timedelta(days=60)
    sellers = market.sellers["seller_id"]
    struck = set(online.ledger.complaints_frame().query("status == 'upheld'")["seller_id"])
    a, b = [s for s in sellers if s not in struck][:2]
    phrase = "Zqxvbn Ploughwright Quenchmark authentic Vorlatch edition Tzimbrel"
    first = listing_like(market, listing_id="ring-a", seller_id=a, created_at=end,
                         title=phrase, description=f"{phrase} ships Krellborough")
    online.scorer.score(first, NO_SELLERS)
    filed = online.ledger.file_complaint(ComplaintFiling("ring-a", a, "Arvedo"), actor="brand",
                                         at=(end + timedelta(hours=1)).to_pydatetime())
    online.ledger.decide(filed.complaint.complaint_id, "upheld", actor="reviewer",
                         at=(end + timedelta(hours=2)).to_pydatetime())
    second = listing_like(market, listing_id="ring-b", seller_id=b,
                          created_at=end + timedelta(hours=3), title=phrase,
                          description=f"{phrase} ships Krellborough")
    online_features = online.features(second)
    assert online_features.at[0, "ring__tainted_shingles"] > 0

    # the same listings and ledger in one batch marketplace give the same features
    everything = online.history.listings(sellers)
    batch_market = Marketplace(pd.concat([everything, second], ignore_index=True),
                               market.sellers, online.ledger.complaints_frame(), market.brands,
                               market.fx_rates)
    target = (batch_market.listings["listing_id"] == "ring-b").to_numpy()
    expected = online.model.pipeline.transform(batch_market, target)
    np.testing.assert_allclose(online_features.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_a_frozen_sellers_listing_is_high_with_reasons(online: Online) -> None:
    market = online.world.market
    seller = market.sellers["seller_id"].iloc[-1]
    end = market.listings["created_at"].max() + timedelta(days=90)
    for i in range(3):
        filed = online.ledger.file_complaint(ComplaintFiling(f"frozen-{i}", seller, "Arvedo"),
                                             actor="brand", at=end.to_pydatetime())
        online.ledger.decide(filed.complaint.complaint_id, "upheld", actor="reviewer",
                             at=(end + timedelta(hours=1)).to_pydatetime())
    assert seller in online.ledger.frozen_sellers([seller])
    listing = listing_like(market, listing_id="frozen-listing", seller_id=seller,
                           created_at=end + timedelta(days=1), title="Plain cotton socks",
                           description="", brand="Generic", price=9.0, currency="USD")
    result = online.scorer.score(listing, NO_SELLERS).iloc[0]
    assert result["band"] == "high" and bool(result["seller_frozen"])
    assert 1 <= len(result["reasons"]) <= 3
    assert all(r.contribution > 0 and r.text for r in result["reasons"])


def test_a_low_score_updates_an_open_case_and_opens_none(online: Online) -> None:
    """The review feed: a complaint's open case gets the listing's score, even a `low` one;
    a `low` listing without a case opens none."""
    market = online.world.market
    queue = ReviewQueue(online.ledger, LedgerSettings(ledger_url=online.ledger_world.url))
    scorer = OnlineScorer(online.model, online.history, online.scorer.ring,
                          ReviewFeed(queue, online.model))
    seller = market.sellers["seller_id"].iloc[0]
    end = market.listings["created_at"].max() + timedelta(days=200)
    listings = pd.concat([listing_like(
        market, listing_id=f"plain-{i}", seller_id=seller, created_at=end,
        title="Plain cotton socks", description="", brand="Generic", price=9.0,
        currency="USD") for i in range(2)], ignore_index=True)
    online.ledger.file_complaint(ComplaintFiling("plain-0", seller, "Arvedo"), actor="brand",
                                 at=end.to_pydatetime())
    scored = scorer.score(listings, NO_SELLERS)
    assert list(scored["band"]) == ["low", "low"]
    with online.ledger.store.read() as conn:
        cases = conn.execute(sa.select(
            review_cases_table.c.listing_id, review_cases_table.c.band,
            review_cases_table.c.score).where(
            review_cases_table.c.listing_id.in_(["plain-0", "plain-1"]))).all()
    assert [(c.listing_id, c.band) for c in cases] == [("plain-0", "low")]
    assert cases[0].score == pytest.approx(scored["score"].iloc[0], rel=1e-12)


def test_a_ring_index_past_the_last_stored_seller_is_built_again(online: Online) -> None:
    """Sellers' rows renumbered below what the index has seen (SQLite's VACUUM may do
    that): new sellers after them would never be read, so the index is built afresh."""
    ring = online.scorer.ring
    ring.seller_seq += 1_000
    ring.refresh(force=True)
    assert ring.seller_seq == online.history.head().seller_seq


def test_listings_another_replica_stored_reach_the_ring_index(online: Online) -> None:
    """A struck seller's listing written by another replica taints later listings here."""
    market = online.world.market
    end = market.listings["created_at"].max() + timedelta(days=120)
    struck = online.ledger.complaints_frame().query("status == 'upheld'")["seller_id"]
    seller = sorted(set(struck))[0]
    other = [s for s in market.sellers["seller_id"] if s not in set(struck)][5]
    phrase = "Gribbleston Vaxhollow Queldarian Mirthwick Obsidrane Pellucorn"
    elsewhere = listing_like(market, listing_id="replica-row", seller_id=seller,
                             created_at=end, title=phrase, description=phrase)
    replica = online.ledger_world.open()  # another process's own connection to the store
    try:
        HistoryStore(replica.store).add(listings=elsewhere)
    finally:
        replica.close()
    later = listing_like(market, listing_id="replica-later", seller_id=other,
                         created_at=end + timedelta(hours=1), title=phrase, description=phrase)
    assert online.features(later).at[0, "ring__tainted_shingles"] > 0


def event_rows(online: Online, seller_ids: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Each seller's events as the scorer holds them, and as derived afresh from the rows
    the store holds (same codes), sorted: blocks hold rows in no particular order."""
    snap = online.history.snapshot(seller_ids)
    earlier, _ = online.scorer.events.earlier(snap.history, {})
    stored = snap.listings
    owners = np.array(stored["seller_id"].to_pylist())
    out = {}
    for seller, events in zip(earlier.sellers, earlier.events, strict=True):
        afresh = online.scorer._listing_events(
            taken(stored, np.flatnonzero(owners == seller)), earlier.codes)
        out[seller] = [sorted(zip(*(c.tolist() for c in held), strict=True))
                       for held in (events, afresh)]
    return out


def odd_listings(online: Online, prefix: str, days: int) -> pd.DataFrame:
    """Six new listings of three sellers seen before, with values that a store could
    round: sub-second moments, prices of many digits, a brand spelled oddly, quantities."""
    market = online.world.market
    moment = market.listings["created_at"].max() + timedelta(days=days)
    sellers = list(dict.fromkeys(market.listings["seller_id"]))[:3]
    brand = market.brands["brand"].iat[0]
    return pd.concat([listing_like(
        market, listing_id=f"{prefix}-{i}", seller_id=seller,
        created_at=moment + timedelta(seconds=i, microseconds=7 * i + 1),
        price=(0.1 + 0.2) * (i + 1) / 3, brand=[f"  {brand.upper()} ", "generic", brand][i % 3],
        quantity=[1, 7, 10**9][i % 3]) for i, seller in enumerate(sellers * 2)],
        ignore_index=True)


def test_listings_scored_here_are_kept_as_events_without_deriving_them_again(
        online: Online) -> None:
    """The events the model computed to score new listings become their sellers' history
    once stored: later requests derive none of them from the stored rows, and they equal
    what such a derivation gives."""
    new = odd_listings(online, "kept", days=60)
    sellers = list(dict.fromkeys(new["seller_id"]))
    online.scorer.score(new.iloc[:3], NO_SELLERS)
    derive, derived = online.scorer.events.derive, []

    def counted(listings: Any, codes: Any) -> Any:
        derived.extend(listings["listing_id"].to_pylist())
        return derive(listings, codes)

    online.scorer.events.derive = counted
    try:
        online.scorer.score(new.iloc[3:], NO_SELLERS)
        held = event_rows(online, sellers)
    finally:
        online.scorer.events.derive = derive
    assert [listing for listing in derived if listing.startswith("kept-")] == []
    assert set(held) == set(sellers)
    for seller, (kept, afresh) in held.items():
        assert kept == afresh, seller
        assert len(kept) == len(online.history.listings([seller], with_text=False))


def test_a_listing_stored_meanwhile_by_another_writer_is_read_from_the_store(
        online: Online) -> None:
    """Another replica stores one of the listings, with other values, between the scorer's
    read and its write: the row stored is the other replica's, and so are its events."""
    new = odd_listings(online, "raced", days=90)
    batch = online.scorer.prepare(plain_arrays(new, LISTING_COLUMNS),
                                  plain_arrays(NO_SELLERS, SELLER_COLUMNS))
    scored = online.model.score_columns(batch.market, ring_index=online.scorer.ring.index,
                                        earlier=batch.earlier)
    replica = online.ledger_world.open()
    try:
        HistoryStore(replica.store).add(listings=new.iloc[[4]].assign(price=999.0, quantity=3))
    finally:
        replica.close()
    online.scorer.store(batch, scored["events"])
    seller = new.at[4, "seller_id"]
    stored = online.history.listings([seller], with_text=False).set_index("listing_id")
    assert stored.at["raced-4", "price"] == 999.0
    kept, afresh = event_rows(online, [seller])[seller]
    assert kept == afresh
    moment = new.at[4, "created_at"].value
    assert [row[4] for row in kept if row[0] == moment] == [3]  # its quantity, not ours


def test_a_warmed_up_scorer_derives_no_history_for_active_sellers_and_scores_alike(
        online: Online, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker loading a model warms its caches with the most recently active sellers'
    stored listings: their first requests then derive no history, and their features are
    those a cold scorer computes."""
    market = online.world.market

    def scorer() -> OnlineScorer:
        history = HistoryStore(online.ledger.store)  # a cache of its own
        return OnlineScorer(online.model, history,
                            RingState(online.model, history, online.ledger, refresh_s=0.0))

    cold, warm = scorer(), scorer()
    assert warm.warm_up(40) == 40
    recent = warm.history.recent_sellers(40)
    assert set(warm.events.sellers) == set(recent)
    small = HistoryStore(online.ledger.store, cache_rows=300)  # fewer rows than the 40 hold
    rows = online.history.listings(recent, with_text=False)["seller_id"].value_counts()
    assert rows[recent].sum() > 300
    kept = OnlineScorer(online.model, small,
                        RingState(online.model, small, online.ledger, refresh_s=0.0))
    monkeypatch.setattr(online_module, "WARM_CHUNK", 1)  # a seller at a time: an exact order
    held = kept.warm_up(40)
    most_recent = [s for s in recent if s in set(kept.events.sellers)]
    assert 0 < held == len(most_recent) < 40
    assert most_recent == recent[:held]  # the most recently active are the ones kept
    moment = market.listings["created_at"].max() + timedelta(days=200)
    new = pd.concat([listing_like(market, listing_id=f"warm-{i}", seller_id=seller,
                                  created_at=moment + timedelta(seconds=i))
                     for i, seller in enumerate(recent[:8])], ignore_index=True)
    derived: dict[str, list[str]] = {"cold": [], "warm": []}
    features = {}
    for name, which in (("cold", cold), ("warm", warm)):
        derive = which.events.derive
        which.events.derive = lambda listings, codes, derive=derive, name=name: (
            derived[name].extend(listings["listing_id"].to_pylist()) or derive(listings, codes))
        batch = which.prepare(plain_arrays(new, LISTING_COLUMNS),
                              plain_arrays(NO_SELLERS, SELLER_COLUMNS))
        features[name] = online.model.pipeline.transform(
            batch.market, ring_index=which.ring.index, earlier=batch.earlier)
    assert derived["warm"] == [] and derived["cold"]  # the cold one read the histories
    pd.testing.assert_frame_equal(features["warm"], features["cold"])
    assert not online.history.listings(recent[:8])["listing_id"].str.startswith("warm-").any()


def test_warming_up_computes_the_text_values_of_the_latest_stored_listings(
        online: Online, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new listing often repeats a stored one's title or description: a worker loading
    a model computes those texts' values before its first request."""
    model = pickle.loads(pickle.dumps(online.model))  # its text memos start empty
    monkeypatch.setattr(online_module, "WARM_TEXTS", 50)
    OnlineScorer(model, online.history,
                 RingState(model, online.history, online.ledger, refresh_s=0.0)).warm_up(40)
    titles, descriptions = online.history.recent_texts(50)
    latest = online.history.listings(online.history.recent_sellers(10**6))
    assert len(latest) > 50 and set(titles) < set(latest["title"])
    texts = model.pipeline.text_
    asked: list[str] = []
    for table in ("_title_table", "_description_table"):
        compute = getattr(texts, table)
        monkeypatch.setattr(texts, table, lambda keys, compute=compute: (
            asked.extend(keys) or compute(keys)))
    for title, description in zip(titles, descriptions, strict=True):
        texts.values(pd.DataFrame({"title": [title], "description": [description],
                                   "brand": ["x"]}))
    assert asked == []


def test_a_lost_database_connection_makes_the_scorer_build_its_caches_afresh(
        online: Online) -> None:
    """What the scorer built on reads made before a connection to the database broke
    (the sellers' events, the ring index) may hold rows the database lost: it is built
    again from what the database holds."""
    new = odd_listings(online, "lost", days=150)
    online.scorer.score(new.iloc[:3], NO_SELLERS)  # kept as their sellers' events
    derive, derived = online.scorer.events.derive, []
    rebuild, rebuilt = online.scorer.ring.rebuild, []

    def counted(listings: Any, codes: Any) -> Any:
        derived.extend(listings["listing_id"].to_pylist())
        return derive(listings, codes)

    def counted_rebuild() -> None:
        rebuilt.append(True)
        rebuild()

    online.scorer.events.derive = counted
    online.scorer.ring.rebuild = counted_rebuild  # type: ignore[method-assign]
    try:
        online.scorer.score(new.iloc[3:4], NO_SELLERS)
        assert (derived, rebuilt) == ([], [])  # nothing lost: nothing built again
        with online.ledger.store.engine.connect() as conn:
            conn.invalidate()  # as the pool does with a connection it finds broken
        online.scorer.score(new.iloc[4:], NO_SELLERS)
    finally:
        online.scorer.events.derive = derive
        online.scorer.ring.rebuild = rebuild  # type: ignore[method-assign]
    # the pass's sellers read afresh, the others no longer held
    assert {"lost-1", "lost-2"} <= set(derived)
    assert new.at[0, "seller_id"] not in online.scorer.events.sellers
    assert rebuilt == [True]


def test_accounts_told_as_they_open_give_the_batchs_burst_features(
        tmp_path: Path) -> None:
    """Training counts every account of the sellers table in a burst, listed or not. The
    service counts the accounts stored: here the import holds those opened before the cut,
    and later ones are stored as they open (what `POST /sellers` does), before the
    listings after them are scored. Every later listing gets the batch's features; without
    the accounts, some burst sizes differ (so the check has something to find: every
    account opened after the cut gets a twin opened an hour later, which never lists)."""
    world = model_world()
    cut = cut_moment(world.market)
    sellers = world.market.sellers
    # every account opened after the cut gets a twin an hour younger that never lists
    twins = sellers[sellers["registered_at"] >= cut].assign(
        seller_id=lambda f: f["seller_id"] + "-twin",
        registered_at=lambda f: f["registered_at"] + pd.Timedelta(hours=1))
    market = Marketplace(world.market.listings, pd.concat([sellers, twins], ignore_index=True),
                         world.market.complaints, world.market.brands, world.market.fx_rates)
    opened = market.sellers["registered_at"] < cut
    early = before(market, cut).listings
    ledger_world = make_ledger(tmp_path, world, Marketplace(
        early, market.sellers[opened], market.complaints, market.brands, market.fx_rates))
    later_accounts = market.sellers[~opened].sort_values("registered_at")
    ledger = ledger_world.open()
    try:
        model = load_scorer(world.model_uri)
        history = HistoryStore(ledger.store)
        ring = RingState(model, history, ledger, refresh_s=0.0)
        online = Online(world, ledger_world, ledger, model, OnlineScorer(model, history, ring))
        batch = model.pipeline.transform(market)
        burst = list(batch.columns).index("ring__burst_size")
        later = later_listings(market, cut)
        untold = online.features(later).to_numpy()[:, burst]  # before any account is told
        assert (untold != batch.loc[later.index].to_numpy()[:, burst]).any()
        told = 0
        for start in range(0, len(later), BATCH):
            chunk = later.iloc[start:start + BATCH]
            expected = batch.loc[chunk.index].to_numpy()
            due = later_accounts.iloc[told:]
            due = due[due["registered_at"] < chunk["created_at"].max()]
            history.add(sellers=due)  # as the route stores accounts as they open
            told += len(due)
            np.testing.assert_allclose(online.features(chunk).to_numpy(), expected,
                                       rtol=1e-12, atol=1e-12,
                                       err_msg=f"listings {list(chunk['listing_id'])[:3]}")
            online.scorer.score(chunk.reset_index(drop=True), NO_SELLERS)
        assert told > 0
    finally:
        ledger.close()
