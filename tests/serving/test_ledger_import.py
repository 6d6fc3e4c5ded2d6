"""Importing a dataset's complaint history: time order, original timestamps, idempotence."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import DataContractError, load_marketplace
from serving.history_store import HistoryStore, import_listings
from serving.ledger.events import EventType
from serving.ledger.ledger import ComplaintFiling, ImportConflict, ImportReport, Ledger
from serving.settings import LedgerSettings
from strikeout.cli import app
from tests.conftest import tiny_tables, write_tables
from tests.serving.conftest import open_ledger
from tests.serving.test_ledger_rules import count_events

# S1 gets three upheld Arvedo complaints; in time of decision C2 comes last, so the freeze
# happens when C2 is decided, although C3 was filed after it. C4 is about a listing
# that is not in listings.csv; C5 is pending; C6 is a second complaint about L1.
COMPLAINTS = pd.DataFrame(
    {
        "complaint_id": ["C1", "C2", "C3", "C4", "C5", "C6"],
        "listing_id": ["L1", "L2", "L7", "L9", "L3", "L1"],
        "seller_id": ["S1", "S1", "S1", "S2", "S2", "S1"],
        "brand": ["Arvedo", "Arvedo", "Arvedo", "Kathea", "Kathea", "Arvedo"],
        "filed_at": ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z",
                     "2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z", "2026-03-06T00:00:00Z"],
        "status": ["upheld", "upheld", "upheld", "rejected", "pending", "upheld"],
        "resolved_at": ["2026-03-02T12:00:00Z", "2026-03-09T08:30:00Z", "2026-03-04T00:00:00Z",
                        "2026-03-05T00:00:00Z", "", "2026-03-07T00:00:00Z"],
    }
)


def dataset(folder: Path, complaints: pd.DataFrame = COMPLAINTS) -> Path:
    return write_tables(folder, {**tiny_tables(), "complaints": complaints})


def test_import_replays_history_in_time_order(ledger: Ledger, tmp_path: Path) -> None:
    report = ledger.import_history(dataset(tmp_path / "d"))
    assert report == ImportReport(filed=6, decided=5, unchanged=0, strikes=3, freezes=1,
                                  takedowns=3)
    state = ledger.seller("S1")
    assert state.frozen and state.strikes_by_brand == {"Arvedo": 3}
    assert [t.listing_id for t in state.takedowns] == ["L1", "L2", "L7"]  # known at the freeze
    freeze = state.current_freeze
    assert freeze is not None
    assert freeze.frozen_at == pd.Timestamp("2026-03-09T08:30:00Z").to_pydatetime()
    assert sorted(c["complaint_id"] for c in freeze.caused_by) == ["C1", "C2", "C3"]
    assert ledger.verify().ok


def test_complaints_frame_is_the_contract_table(ledger: Ledger, tmp_path: Path) -> None:
    folder = dataset(tmp_path / "d")
    ledger.import_history(folder)
    expected = load_marketplace(folder).complaints.sort_values("complaint_id", ignore_index=True)
    got = ledger.complaints_frame().sort_values("complaint_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    only_s2 = ledger.complaints_frame(["S2"])
    assert list(only_s2["complaint_id"]) == ["C4", "C5"]
    assert only_s2.dtypes.equals(expected.dtypes)


def test_reimport_changes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    folder = dataset(tmp_path / "d")
    ledger.import_history(folder)
    before = count_events(ledger)
    assert ledger.import_history(folder) == ImportReport(unchanged=6)
    assert count_events(ledger) == before
    assert ledger.verify().ok


def test_reimport_adds_a_decision_made_since(ledger: Ledger, tmp_path: Path) -> None:
    ledger.import_history(dataset(tmp_path / "d1"))
    later = COMPLAINTS.copy()
    later.loc[later["complaint_id"] == "C5", ["status", "resolved_at"]] = [
        "upheld", "2026-03-10T00:00:00Z"]
    report = ledger.import_history(dataset(tmp_path / "d2", later))
    assert report == ImportReport(decided=1, unchanged=5, strikes=1)
    assert ledger.complaint("C5").status == "upheld"  # type: ignore[union-attr]


def test_contradicting_history_is_refused_before_any_write(ledger: Ledger, tmp_path: Path) -> None:
    ledger.import_history(dataset(tmp_path / "d1"))
    before = count_events(ledger)
    other = COMPLAINTS.copy()
    other.loc[other["complaint_id"] == "C1", "status"] = "rejected"
    other.loc[other["complaint_id"] == "C4", "listing_id"] = "L4"
    extra = pd.DataFrame([["C7", "L4", "S2", "Kathea", "2026-03-11T00:00:00Z", "pending", ""]],
                         columns=COMPLAINTS.columns)
    with pytest.raises(ImportConflict, match=r"2 complaint\(s\)") as err:
        ledger.import_history(dataset(tmp_path / "d2", pd.concat([other, extra])))
    assert "C1" in str(err.value) and "C4" in str(err.value)
    assert count_events(ledger) == before
    assert ledger.complaint("C7") is None


def test_a_complaint_against_another_sellers_listing_is_refused_before_any_write(
        ledger: Ledger, tmp_path: Path) -> None:
    """Upheld complaints naming S2 about S1's listings would strike (three: freeze) S2, who
    owns none of them: the API refuses such complaints, and so does the import."""
    framed = COMPLAINTS.copy()
    framed.loc[framed["complaint_id"].isin(["C1", "C2", "C3"]), "seller_id"] = "S2"
    with pytest.raises(ImportConflict, match=r"2 complaint\(s\)") as err:  # L7 is not listed
        ledger.import_history(dataset(tmp_path / "d", framed))
    assert "complaint C1 names seller 'S2', but the dataset's listings give listing 'L1' to " \
           "seller 'S1'" in str(err.value)
    assert count_events(ledger) == 0


def test_a_complaint_dated_in_the_future_is_refused_before_any_write(
        ledger: Ledger, tmp_path: Path) -> None:
    future = COMPLAINTS.copy()
    future.loc[future["complaint_id"] == "C4", "resolved_at"] = "2099-01-02T00:00:00Z"
    with pytest.raises(ImportConflict, match=r"complaint C4: resolved_at 2099-01-02.* future"):
        ledger.import_history(dataset(tmp_path / "d", future))
    assert count_events(ledger) == 0


def test_a_reimport_that_gives_a_listing_another_seller_says_the_first_owner_stays(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"STRIKEOUT_HOME": str(home)}
    first = CliRunner().invoke(app, ["ledger", "import", "--data", str(dataset(tmp_path / "a"))],
                               env=env)
    assert first.exit_code == 0, first.output
    assert "warning" not in first.output
    tables = tiny_tables()
    listings = tables["listings"]
    moved = listings.index[listings["listing_id"] == "L3"]
    listings.loc[moved, "seller_id"] = "S1"
    again = CliRunner().invoke(app, ["ledger", "import", "--data", str(write_tables(
        tmp_path / "b", {**tables, "complaints": COMPLAINTS.drop(index=4)}))], env=env)
    assert again.exit_code == 0, again.output
    assert "warning: 1 listing(s) of the dataset are stored under another seller" in again.output
    assert "L3 (S1 in the dataset, stored as S2's)" in again.output


def complaint_row(complaint_id: str, listing: str, seller: str, brand: str, filed_at: str,
                  status: str = "pending", resolved_at: str = "") -> pd.DataFrame:
    return pd.DataFrame([[complaint_id, listing, seller, brand, filed_at, status, resolved_at]],
                        columns=COMPLAINTS.columns)


def moved_dataset(folder: Path) -> Path:
    """The dataset with listing L3 (S2's) given to a new seller S3, and an upheld complaint
    CNEW1 against S3 about it; without C5, which names S2 about L3."""
    tables = tiny_tables()
    sellers = tables["sellers"]
    tables["sellers"] = pd.concat([sellers, pd.DataFrame(
        [["S3", "2026-01-01T00:00:00Z", "FR", "true"]], columns=sellers.columns)])
    listings = tables["listings"]
    listings.loc[listings["listing_id"] == "L3", "seller_id"] = "S3"
    complaints = pd.concat([COMPLAINTS.drop(index=4), complaint_row(
        "CNEW1", "L3", "S3", "Arvedo", "2026-03-10T00:00:00Z", "upheld", "2026-03-11T00:00:00Z")])
    return write_tables(folder, {**tables, "complaints": complaints})


def test_the_cli_refuses_a_complaint_about_a_listing_the_ledger_holds_as_another_sellers(
        ledger_url: str, tmp_path: Path) -> None:
    """The history store holds L3 as S2's (the first write stands): a dataset that gives L3
    to S3 must not get S3 a strike for it; the refusal writes nothing, not even the
    dataset's listings, and importing the first dataset again still changes nothing."""
    env = {"STRIKEOUT_HOME": str(tmp_path / "home"), "STRIKEOUT_LEDGER_URL": ledger_url}
    first = dataset(tmp_path / "a")
    assert CliRunner().invoke(app, ["ledger", "import", "--data", str(first)],
                              env=env).exit_code == 0
    ledger = open_ledger(ledger_url)
    try:
        events, history = count_events(ledger), HistoryStore(ledger.store).head()
        refused = CliRunner().invoke(app, ["ledger", "import", "--data",
                                           str(moved_dataset(tmp_path / "b"))], env=env)
        assert refused.exit_code == 2, refused.output
        assert "1 complaint(s)" in refused.output
        assert "complaint CNEW1 names seller 'S3', but the ledger holds listing 'L3' as a " \
               "listing of seller 'S2'" in refused.output
        assert count_events(ledger) == events
        assert HistoryStore(ledger.store).head() == history
        assert ledger.complaint("CNEW1") is None
        assert ledger.seller("S3").strikes == ()
        assert ledger.verify().ok
        again = CliRunner().invoke(app, ["ledger", "import", "--data", str(first)], env=env)
        assert again.exit_code == 0, again.output
        assert "filed 0, decided 0, unchanged 6; 0 strike(s)" in again.output
        assert count_events(ledger) == events
        assert HistoryStore(ledger.store).head() == history
    finally:
        ledger.close()


def test_import_cannot_uphold_a_complaint_the_listing_systems_since_gave_another_seller(
        ledger: Ledger, tmp_path: Path) -> None:
    """A brand's complaint naming S1 about L3, filed before the listing systems gave L3 as
    S2's: as `decide` would, the import refuses to uphold it (it may reject it)."""
    filed = ledger.file_complaint(ComplaintFiling("L3", "S1", "Arvedo"), actor="brand:Arvedo")
    import_listings(HistoryStore(ledger.store), load_marketplace(dataset(tmp_path / "a")))
    tables = tiny_tables()
    listings = tables["listings"]
    listings.loc[listings["listing_id"] == "L3", "seller_id"] = "S1"
    at = filed.complaint.filed_at.isoformat()

    def with_decision(folder: Path, status: str) -> Path:
        return write_tables(folder, {**tables, "complaints": complaint_row(
            filed.complaint.complaint_id, "L3", "S1", "Arvedo", at, status, at)})

    with pytest.raises(ImportConflict, match=r"1 complaint\(s\)") as err:
        ledger.import_history(with_decision(tmp_path / "upheld", "upheld"))
    assert "holds listing 'L3' as a listing of seller 'S2'" in str(err.value)
    assert count_events(ledger) == 1
    assert ledger.import_history(with_decision(tmp_path / "rejected", "rejected")) == \
        ImportReport(decided=1)
    assert ledger.seller("S1").strikes == ()


def test_a_new_complaint_must_name_the_seller_the_ledger_named(ledger: Ledger,
                                                               tmp_path: Path) -> None:
    """L8 is in no listing system: the brand that complained first named its seller, S2;
    the import refuses another brand's complaint naming S1, as the API would."""
    ledger.file_complaint(ComplaintFiling("L8", "S2", "Kathea"), actor="brand:Kathea")
    complaints = pd.concat([COMPLAINTS, complaint_row("C7", "L8", "S1", "Arvedo",
                                                      "2026-03-11T00:00:00Z")])
    with pytest.raises(ImportConflict, match=r"1 complaint\(s\)") as err:
        ledger.import_history(dataset(tmp_path / "d", complaints))
    assert "complaint C7 names seller 'S1', but the ledger holds listing 'L8' as a listing " \
           "of seller 'S2'" in str(err.value)
    assert count_events(ledger) == 1


def test_two_complaints_of_one_import_cannot_name_two_sellers_for_one_listing(
        ledger: Ledger, tmp_path: Path) -> None:
    """L9 is in no listing system: within one dataset too, the first complaint not
    rejected names its seller, and a later one naming another is refused, as the API
    would refuse it; a rejected one names no one."""
    complaints = pd.concat([
        COMPLAINTS,
        complaint_row("C10", "L9", "S1", "Arvedo", "2026-03-11T00:00:00Z"),
        complaint_row("C11", "L9", "S2", "Kathea", "2026-03-12T00:00:00Z"),
        complaint_row("C12", "L10", "S2", "Kathea", "2026-03-11T00:00:00Z", "rejected",
                      "2026-03-11T12:00:00Z"),
        complaint_row("C13", "L10", "S1", "Arvedo", "2026-03-12T00:00:00Z")])
    with pytest.raises(ImportConflict, match=r"1 complaint\(s\)") as err:
        ledger.import_history(dataset(tmp_path / "d", complaints))
    assert "complaint C11 names seller 'S2', but the ledger holds listing 'L9' as a listing " \
           "of seller 'S1'" in str(err.value)
    assert count_events(ledger) == 0


def test_a_listing_given_to_another_seller_while_the_import_runs_stops_it(
        ledger: Ledger, tmp_path: Path) -> None:
    """The plan is checked before anything is written; its writes check again, in their
    transaction, for a listing the listing systems gave meanwhile (here L1, to S2)."""
    folder = dataset(tmp_path / "d")
    plan = ledger.plan_import(load_marketplace(folder), folder)
    tables = tiny_tables()
    listings = tables["listings"]
    listings.loc[listings["listing_id"] == "L1", "seller_id"] = "S2"
    import_listings(HistoryStore(ledger.store),
                    load_marketplace(write_tables(tmp_path / "scored", tables)))
    with pytest.raises(ImportConflict, match=r"complaint C1 names seller 'S1', but the listing "
                                             r"systems gave listing 'L1' as a listing of "
                                             r"seller 'S2' while the import ran"):
        ledger.apply_import(plan)
    assert count_events(ledger) == 0


def test_the_datasets_listings_outrank_a_seller_only_a_complaint_named(
        ledger: Ledger, tmp_path: Path) -> None:
    """A brand named S1 as L4's seller before any listing system gave L4 a seller; the
    dataset's listings give it to S2, and that stands, as a scored listing would."""
    ledger.file_complaint(ComplaintFiling("L4", "S1", "Arvedo"), actor="brand:Arvedo")
    complaints = pd.concat([COMPLAINTS, complaint_row("C7", "L4", "S2", "Kathea",
                                                      "2026-03-11T00:00:00Z")])
    assert ledger.import_history(dataset(tmp_path / "d", complaints)).filed == 7


def test_a_broken_dataset_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(DataContractError):
        ledger.import_history(tmp_path / "missing")
    assert count_events(ledger, EventType.COMPLAINT_FILED) == 0


def test_the_cli_refuses_what_the_ledger_cannot_record_before_writing_anything(
        tmp_path: Path) -> None:
    long_brand = COMPLAINTS.copy()
    long_brand.loc[long_brand["complaint_id"] == "C5", "brand"] = "K" * 250
    long_brand.loc[long_brand["complaint_id"] == "C6", "complaint_id"] = "C" + "6" * 250
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["ledger", "import", "--data",
                                      str(dataset(tmp_path / "d", long_brand))],
                                env={"STRIKEOUT_HOME": str(home)})
    assert result.exit_code == 2, result.output
    assert "C5: brand is longer than 200 characters" in result.output
    assert "C666" in result.output and "complaint_id is longer than 200" in result.output
    ledger = Ledger.open(LedgerSettings(ledger_url=f"sqlite:///{home / 'ledger.sqlite'}"))
    try:  # neither complaints nor the history store's listings
        assert count_events(ledger) == 0
        assert HistoryStore(ledger.store).head().last_seq == 0
    finally:
        ledger.close()
