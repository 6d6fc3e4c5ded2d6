"""The online history store: contract types in and out, written once, read as one snapshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from features.columns import Columns
from features.contract import Marketplace, load_marketplace
from serving.history_store import (
    _SELLER_ROWS_AFTER,
    LISTING_COLUMNS,
    HistoryStore,
    _compiled,
    contract_frame,
    import_listings,
)
from serving.ledger.ledger import Ledger
from serving.ledger.store import MIGRATIONS_PATH, SCHEMA_VERSION_TABLE
from tests.serving.conftest import open_ledger


@pytest.fixture
def market(tiny_dataset: Path) -> Marketplace:
    return load_marketplace(tiny_dataset)


def contract_listings(market: Marketplace) -> pd.DataFrame:
    return market.listings[list(LISTING_COLUMNS)].sort_values(
        ["created_at", "listing_id"]).reset_index(drop=True)


def sorted_history(listings: pd.DataFrame) -> pd.DataFrame:
    """History rows (a snapshot holds them in no particular order), oldest first."""
    return listings.sort_values(["created_at", "listing_id"], ignore_index=True)


def test_listings_and_sellers_come_back_as_the_contract_loaded_them(
        ledger: Ledger, market: Marketplace) -> None:
    store = HistoryStore(ledger.store)
    added = import_listings(store, market)
    assert (added.sellers, added.listings) == (2, 4)
    pd.testing.assert_frame_equal(store.listings(["S1", "S2"]), contract_listings(market))
    pd.testing.assert_frame_equal(store.sellers(), market.sellers)
    without_text = store.listings(["S1"], with_text=False)
    assert (without_text["title"] == "").all() and (without_text["description"] == "").all()
    assert list(without_text["listing_id"]) == ["L1", "L2"]


def test_storing_again_changes_nothing_and_the_first_version_stays(
        ledger: Ledger, market: Marketplace) -> None:
    store = HistoryStore(ledger.store)
    import_listings(store, market)
    head = store.head()
    edited = market.listings.assign(title="edited title", price=1.0)
    again = import_listings(store, Marketplace(edited, market.sellers, market.complaints,
                                               market.brands, market.fx_rates))
    assert (again.sellers, again.listings) == (0, 0)
    assert store.head() == head
    pd.testing.assert_frame_equal(store.listings(["S1", "S2"]), contract_listings(market))


def test_snapshot_reads_history_complaints_and_freezes_as_the_ledger_does(
        ledger: Ledger, market: Marketplace, tiny_dataset: Path) -> None:
    store = HistoryStore(ledger.store)
    import_listings(store, market)
    ledger.import_history(tiny_dataset)
    snap = store.snapshot(["S1", "S2"], scoring={"L2"})
    listings = sorted_history(contract_frame(snap.listings))
    assert list(listings["listing_id"]) == ["L1", "L3", "L4"]
    assert (listings["title"] == "").all()  # history rows carry no text
    pd.testing.assert_frame_equal(contract_frame(snap.complaints),
                                  ledger.complaints_frame(["S1", "S2"]))
    assert snap.frozen == ledger.frozen_sellers(["S1", "S2"]) == set()
    pd.testing.assert_frame_equal(contract_frame(snap.sellers), market.sellers)
    pd.testing.assert_frame_equal(listings, store.listings(["S1", "S2"], with_text=False,
                                                           exclude={"L2"}))
    nobody = store.snapshot(["S404"])
    assert all(len(Columns.of_arrays(table)) == 0
               for table in (nobody.listings, nobody.sellers, nobody.complaints))
    assert list(nobody.listings) == list(LISTING_COLUMNS)


def test_snapshot_sees_a_freeze(ledger: Ledger, market: Marketplace) -> None:
    from serving.ledger.ledger import ComplaintFiling

    store = HistoryStore(ledger.store)
    for listing in ("L1", "L2", "L5"):
        filed = ledger.file_complaint(ComplaintFiling(listing, "S1", "Arvedo"), actor="brand")
        ledger.decide(filed.complaint.complaint_id, "upheld", actor="reviewer")
    ledger.file_complaint(ComplaintFiling("L9", "S1", "Arvedo"), actor="brand")  # pending
    snap = store.snapshot(["S1", "S2"])
    assert snap.frozen == {"S1"}
    assert (contract_frame(snap.complaints)["status"] == "upheld").sum() == 3
    # filed and decided now: times to the microsecond, one of them missing
    pd.testing.assert_frame_equal(contract_frame(snap.complaints),
                                  ledger.complaints_frame(["S1", "S2"]))


@pytest.mark.parametrize("fold_rows", [1, 2, 32])  # new rows folded into columns at once .. never
@pytest.mark.parametrize("cache_rows", [0, 2, 100])  # off, evicting, keeping all
def test_a_cached_snapshot_sees_rows_another_worker_stored(
        ledger: Ledger, market: Marketplace, cache_rows: int, fold_rows: int) -> None:
    worker = HistoryStore(ledger.store, cache_rows=cache_rows, fold_rows=fold_rows)
    other = HistoryStore(ledger.store)  # another worker or replica on the same database
    listings = market.listings[list(LISTING_COLUMNS)]
    other.add(listings=listings[listings["listing_id"].isin(["L1", "L3"])])
    before = contract_frame(worker.snapshot(["S1", "S2"]).listings)
    assert sorted(before["listing_id"]) == ["L1", "L3"]
    other.add(listings=listings[listings["listing_id"].isin(["L2", "L4"])])
    for exclude in (set(), {"L2"}):
        snap = contract_frame(worker.snapshot(["S2", "S1"], scoring=exclude).listings)
        pd.testing.assert_frame_equal(
            sorted_history(snap), worker.listings(["S1", "S2"], with_text=False, exclude=exclude))
    assert sorted(worker.snapshot(["S1"]).listings["listing_id"].to_pylist()) == ["L1", "L2"]
    assert worker.cache.rows <= cache_rows


def test_rows_written_after_a_point_are_read_in_order(
        ledger: Ledger, market: Marketplace) -> None:
    store = HistoryStore(ledger.store)
    store.add(listings=market.listings.iloc[:2])
    seq = store.head().last_seq
    store.add(listings=market.listings.iloc[3:4])  # L4 stored before L3
    store.add(listings=market.listings.iloc[2:3])
    every = set(market.sellers["seller_id"])
    rows = store.listings_after(seq, every)
    assert rows["listing_id"].to_pylist() == ["L4", "L3"]
    expected = market.listings.set_index("listing_id").loc[["L4", "L3"]].reset_index()
    pd.testing.assert_frame_equal(contract_frame(rows), expected[list(LISTING_COLUMNS)])
    assert len(store.listings_after(store.head().last_seq, every)["listing_id"]) == 0


def test_rows_after_a_point_are_read_of_the_sellers_asked_for_only(
        ledger: Ledger, market: Marketplace) -> None:
    """The ring index's refresh reads struck sellers' rows only."""
    store = HistoryStore(ledger.store)
    store.add(listings=market.listings)
    by_seller = market.listings.groupby("seller_id")["listing_id"].apply(sorted).to_dict()
    seller, other = sorted(by_seller)[:2]
    rows = store.listings_after(0, {seller})
    assert sorted(rows["listing_id"].to_pylist()) == by_seller[seller]
    assert contract_frame(rows).equals(
        contract_frame(store.listings_after(0, set(by_seller))).query("seller_id == @seller")
        .reset_index(drop=True))
    assert len(store.listings_after(0, {"nobody"})["listing_id"]) == 0
    assert other not in set(rows["seller_id"].to_pylist())


def more_sellers(market: Marketplace) -> pd.DataFrame:
    """The market's sellers and two copies of them under other ids, sorted by id."""
    copies = [market.sellers.assign(seller_id=market.sellers["seller_id"] + suffix)
              for suffix in ("", "-b", "-c")]
    return pd.concat(copies).sort_values("seller_id", ignore_index=True)


def test_sellers_written_after_a_point_are_read_alone_in_the_order_written(
        ledger: Ledger, market: Marketplace) -> None:
    """The ring index picks up sellers other replicas stored without reading them all."""
    store = HistoryStore(ledger.store)
    sellers = more_sellers(market)
    store.add(sellers=sellers.iloc[:1])
    seq = store.head().seller_seq
    later = sellers.iloc[1:].iloc[::-1]
    for i in range(len(later)):  # each in a write of its own, in reverse key order
        store.add(sellers=later.iloc[i:i + 1])
    store.add(sellers=sellers)  # already stored: no row written, none numbered
    pd.testing.assert_frame_equal(store.sellers_after(seq), later.reset_index(drop=True))
    assert store.sellers_after(store.head().seller_seq).empty


def test_sellers_stored_before_their_rows_were_numbered_are_numbered_on_upgrade(
        ledger_url: str, market: Marketplace) -> None:
    """history_0003 on a ledger holding sellers: they are numbered, and later ones after."""
    sellers = more_sellers(market)
    ledger = open_ledger(ledger_url)
    HistoryStore(ledger.store).add(sellers=sellers.iloc[:3])
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    with ledger.store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "history_0002")
    ledger.close()

    ledger = open_ledger(ledger_url)  # upgraded as it opens
    try:
        store = HistoryStore(ledger.store)
        numbered = store.head().seller_seq
        store.add(sellers=sellers.iloc[3:])
        pd.testing.assert_frame_equal(store.sellers_after(numbered),
                                      sellers.iloc[3:].reset_index(drop=True))
        assert len(store.sellers_after(0)) == len(sellers) == 6
    finally:
        ledger.close()


def test_the_history_branch_is_migrated_with_the_ledger(ledger: Ledger) -> None:
    with ledger.store.read() as conn:
        heads = set(conn.execute(sa.text(
            f"SELECT version_num FROM {SCHEMA_VERSION_TABLE}")).scalars())
        tables = set(sa.inspect(conn).get_table_names())
        indexes = {i["name"]: i["column_names"]
                   for i in sa.inspect(conn).get_indexes("history_listings")}
    assert "history_0003" in heads and len(heads) >= 2  # the ledger's branch(es) too
    assert {"history_sellers", "history_listings", "ledger_events"} <= tables
    assert indexes["ix_history_listings_seller_seq"] == ["seller_id", "seq"]


def test_a_sellers_new_rows_are_found_by_a_seek_not_by_reading_the_seller(
        ledger: Ledger) -> None:
    """The cache's question on every request (rows after the last one seen, per seller)."""
    if ledger.store.is_postgres:
        pytest.skip("PostgreSQL plans by table statistics: an empty table is scanned")
    with ledger.store.read() as conn:
        sql, _, constants = _compiled(conn.dialect, _SELLER_ROWS_AFTER, 2)
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", ("s1", 0, "s2", 0, *constants.values())))
    assert "ix_history_listings_seller_seq (seller_id=? AND seq>?)" in plan, plan


@pytest.mark.parametrize("in_time_order", [False, True])
@pytest.mark.parametrize("fold_rows", [1, 3, 32])
def test_cached_rows_are_the_stored_rows_whatever_order_they_are_stored_in(
        ledger: Ledger, market: Marketplace, fold_rows: int, in_time_order: bool) -> None:
    """Rows stored late with older or equal created_at, read after every write, alone and
    with another seller, with and without exclusions, across folds."""
    rng = np.random.default_rng(fold_rows)
    worker = HistoryStore(ledger.store, fold_rows=fold_rows)
    other = HistoryStore(ledger.store)
    template = market.listings[list(LISTING_COLUMNS)].iloc[[0]]
    n = 60
    rows = pd.concat([template] * n, ignore_index=True).assign(
        listing_id=[f"L{i:03d}" for i in rng.permutation(n)],
        seller_id=rng.choice(["S1", "S2"], size=n, p=[0.8, 0.2]),
        created_at=template["created_at"].iloc[0] + pd.to_timedelta(
            rng.integers(0, 12, size=n), unit="h"))
    if in_time_order:  # as listings usually arrive: ties in created_at, ids in any order
        rows = rows.sort_values("created_at", kind="stable", ignore_index=True)
    for start in range(0, n, 7):
        other.add(listings=rows.iloc[start:start + 7])
        stored = list(rows["listing_id"].iloc[:start + 7])
        exclude = set(rng.choice(stored, size=2))
        for sellers, without in ((["S1"], set()), (["S1"], exclude), (["S2", "S1"], exclude)):
            got = sorted_history(contract_frame(
                worker.snapshot(sellers, scoring=without).listings))
            pd.testing.assert_frame_equal(
                got, worker.listings(sellers, with_text=False, exclude=without))


@pytest.mark.postgres
def test_rows_cached_before_the_database_connection_broke_are_read_again(
        postgres_url: str, market: Marketplace) -> None:
    """PostgreSQL commits history rows without waiting for the disk, so a server crash
    can lose rows the service had read. The cache must not serve them once connections
    are found broken, even when the seller's row count is again what it cached."""
    ledger = open_ledger(f"{postgres_url}&application_name=crashed-service")
    replica = open_ledger(postgres_url)
    admin = sa.create_engine(replica.store.engine.url)
    try:
        store = HistoryStore(ledger.store)
        listings = market.listings[list(LISTING_COLUMNS)]
        store.add(listings=listings[listings["listing_id"].isin(["L1", "L2"])])
        before = store.snapshot(["S1"])
        assert sorted(before.listings["listing_id"].to_pylist()) == ["L1", "L2"]
        with admin.begin() as conn:  # the crash: L2 lost, the service's connections broken
            conn.execute(sa.text("DELETE FROM history_listings WHERE listing_id = 'L2'"))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = 'crashed-service'"))
        # another replica stores one more row of the seller: two rows, as cached
        HistoryStore(replica.store).add(listings=listings[listings["listing_id"] == "L3"]
                                        .assign(seller_id="S1"))
        after = store.snapshot(["S1"])
        assert sorted(after.listings["listing_id"].to_pylist()) == ["L1", "L3"]
        assert after.epoch > before.epoch
    finally:
        admin.dispose()
        replica.close()
        ledger.close()
