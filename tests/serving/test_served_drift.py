"""`strikeout drift --served`: the listings the service stored, compared as a dataset would be.

The history store is a real SQLite ledger database filled through `HistoryStore`; the
model is the small one the service tests train (`model_world`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from features.contract import Marketplace, save_marketplace
from serving.history_store import HistoryStore, import_listings
from serving.ledger.ledger import Ledger
from serving.population import EmptyWindow, served_population
from serving.settings import LedgerSettings
from strikeout.cli import app
from tests.serving.service_support import ModelWorld, before, cut_moment, model_world
from training.drift import STEPS, features_and_scores

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("service")]


@pytest.fixture(scope="module")
def world() -> ModelWorld:
    return model_world()


@pytest.fixture(scope="module", autouse=True)
def mlflow_globals_restored() -> Iterator[None]:
    """The CLI's `connect()` sets MLflow's process-wide URIs and MLFLOW_TRACKING_URI; the
    other tests of this process get theirs back."""
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tracking, "_tracking_uri", tracking._tracking_uri)
        mp.setattr(registry, "_registry_uri", registry._registry_uri)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


@pytest.fixture(scope="module")
def model(world: ModelWorld, mlflow_globals_restored: None) -> object:
    mlflow.set_tracking_uri(world.tracking_uri)
    mlflow.set_registry_uri(world.tracking_uri)
    return mlflow.pyfunc.load_model(world.model_uri).unwrap_python_model()


@pytest.fixture(scope="module")
def reference(world: ModelWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset up to the cut: what the model was trained on, as `--reference`."""
    early = before(world.market, cut_moment(world.market))
    return save_marketplace(early, tmp_path_factory.mktemp("reference") / "data")


def stored(folder: Path, world: ModelWorld, listings: pd.DataFrame) -> str:
    """A SQLite ledger holding the dataset's complaints, all its sellers and `listings`."""
    url = f"sqlite:///{folder / 'ledger.sqlite'}"
    ledger = Ledger.open(LedgerSettings(ledger_url=url))
    try:
        ledger.import_history(world.data_path)
        m = world.market
        import_listings(HistoryStore(ledger.store),
                        Marketplace(listings, m.sellers, m.complaints, m.brands, m.fx_rates))
    finally:
        ledger.close()
    return url


@pytest.fixture(scope="module")
def whole_url(world: ModelWorld, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A history store holding every listing of the dataset."""
    return stored(tmp_path_factory.mktemp("whole"), world, world.market.listings)


def drift(world: ModelWorld, url: str, *args: str) -> Result:
    env = {"STRIKEOUT_HOME": str(world.home), "STRIKEOUT_LEDGER_URL": url,
           "MLFLOW_TRACKING_URI": None}
    return CliRunner().invoke(app, ["drift", "--model", world.model_uri, *args], env=env)


def by_listing(features: pd.DataFrame, listing_ids: pd.Series) -> pd.DataFrame:
    return features.set_axis(listing_ids.loc[features.index].to_numpy()).sort_index()


def test_served_window_has_the_features_and_scores_of_the_same_listings_in_the_dataset(
        world: ModelWorld, model: object, whole_url: str) -> None:
    cut = cut_moment(world.market)
    ledger = Ledger.open(LedgerSettings(ledger_url=whole_url))
    try:
        served = served_population(ledger, model.brands, model.fx_rates, since=cut)  # type: ignore
    finally:
        ledger.close()
    market = world.market
    later = (market.listings["created_at"] >= cut).to_numpy()
    assert served.targets.sum() == later.sum() > 0
    online = features_and_scores(model, served.market, served.targets)  # type: ignore[arg-type]
    batch = features_and_scores(model, market, later)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(by_listing(online, served.market.listings["listing_id"]),
                                  by_listing(batch, market.listings["listing_id"]),
                                  check_exact=False, rtol=0, atol=1e-12)


def test_served_report_equals_the_report_of_the_same_listings_as_a_folder(
        world: ModelWorld, model: object, whole_url: str, reference: Path,
        tmp_path: Path) -> None:
    served = drift(world, whole_url, "--reference", str(reference), "--served",
                   "--out", str(tmp_path / "served.csv"))
    folder = drift(world, whole_url, "--reference", str(reference),
                   "--current", str(world.data_path), "--out", str(tmp_path / "folder.csv"))
    assert served.exit_code == folder.exit_code, served.stderr
    assert served.exit_code in (0, 1), served.stderr
    a = pd.read_csv(tmp_path / "served.csv").set_index("feature").sort_index()
    b = pd.read_csv(tmp_path / "folder.csv").set_index("feature").sort_index()
    assert set(a.index) == {*model.pipeline.feature_names_, "score"}  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
    assert served.stdout.splitlines()[-1] == folder.stdout.splitlines()[-1]


def test_a_served_population_with_collapsed_prices_is_flagged(
        world: ModelWorld, reference: Path, tmp_path: Path) -> None:
    market = world.market
    cut = cut_moment(market)
    later = (market.listings["created_at"] >= cut).to_numpy()
    cheap = market.listings.assign(price=np.where(later, market.listings["price"] * 0.05,
                                                  market.listings["price"]))
    url = stored(tmp_path, world, cheap)
    since = cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    result = drift(world, url, "--reference", str(reference), "--served", "--since", since,
                   "--out", str(tmp_path / "drift.csv"))
    assert result.exit_code == 1, result.stderr
    table = pd.read_csv(tmp_path / "drift.csv").set_index("feature")
    assert table.loc["price__ratio_to_reference", "drifted"]
    assert table.loc["price__log_usd", "drifted"]
    assert table.loc["price__ratio_to_reference", "current_mean"] < table.loc[
        "price__ratio_to_reference", "reference_mean"]
    assert "price__ratio_to_reference" in result.stdout


def test_the_unshifted_window_is_not_flagged_on_price(
        world: ModelWorld, whole_url: str, reference: Path, tmp_path: Path) -> None:
    since = cut_moment(world.market).isoformat()
    result = drift(world, whole_url, "--reference", str(reference), "--served",
                   "--since", since, "--out", str(tmp_path / "drift.csv"))
    assert result.exit_code in (0, 1), result.stderr
    table = pd.read_csv(tmp_path / "drift.csv").set_index("feature")
    # seller-history counts grow with time and drift anyway; prices stay put
    assert table.loc["price__ratio_to_reference", "psi"] < 0.1
    assert table.loc["price__log_usd", "psi"] < 0.1


def test_an_empty_window_is_an_error_with_a_message(
        world: ModelWorld, whole_url: str, reference: Path, tmp_path: Path) -> None:
    result = drift(world, whole_url, "--reference", str(reference), "--served",
                   "--since", "2031-01-01")
    assert result.exit_code == 2
    assert "no listing in the history store was created at or after 2031-01-01" in result.stderr
    empty = Ledger.open(LedgerSettings(ledger_url=f"sqlite:///{tmp_path / 'empty.sqlite'}"))
    try:
        with pytest.raises(EmptyWindow, match="holds no listings"):
            served_population(empty, world.market.brands, world.market.fx_rates)
    finally:
        empty.close()


def test_an_empty_dataset_on_either_side_is_an_error_with_a_message(
        world: ModelWorld, whole_url: str, reference: Path, tmp_path: Path) -> None:
    empty = save_marketplace(Marketplace(world.market.listings.iloc[:0], world.market.sellers,
                                         world.market.complaints, world.market.brands,
                                         world.market.fx_rates), tmp_path / "empty")
    current = drift(world, whole_url, "--reference", str(reference), "--current", str(empty))
    assert current.exit_code == 2, current.output
    assert f"the current population ({empty}) holds no listings" in current.stderr
    before = drift(world, whole_url, "--reference", str(empty), "--current", str(reference))
    assert before.exit_code == 2, before.output
    assert f"the reference dataset {empty} holds no listings" in before.stderr


def test_quiet_with_nothing_drifted_prints_no_empty_table(
        world: ModelWorld, whole_url: str, reference: Path) -> None:
    same = drift(world, whole_url, "--reference", str(reference), "--current", str(reference),
                 "--quiet")
    assert same.exit_code == 0, same.output
    assert same.stdout.splitlines()[0].startswith("0 of ")
    assert "Empty DataFrame" not in same.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--served", "--since", "yesterday"], "--since 'yesterday' is not an ISO 8601 time"),
    (["--served", "--until", "2026-13-01"], "--until '2026-13-01' is not an ISO 8601 time"),
    (["--served", "--since", "2026-03-02", "--until", "2026-03-01"], "is not before --until"),
    (["--served", "--current", "."], "exactly one of --current DIR and --served"),
    ([], "exactly one of --current DIR and --served"),
    (["--current", ".", "--out", "."], "--out . is a folder"),
    (["--current", ".", "--since", "2026-03-01"], "they go with --served"),
])
def test_bad_arguments_are_refused_before_any_work(
        args: list[str], message: str, tmp_path: Path) -> None:
    env = {"STRIKEOUT_HOME": str(tmp_path), "STRIKEOUT_LEDGER_URL": None}
    result = CliRunner().invoke(app, ["drift", "--reference", ".", *args], env=env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not any(tmp_path.iterdir())  # no model loaded, no ledger created


def test_progress_bar_on_stderr_unless_quiet(
        world: ModelWorld, whole_url: str, reference: Path) -> None:
    loud = drift(world, whole_url, "--reference", str(reference), "--current",
                 str(world.data_path))
    assert f"drift: {len(STEPS)}/{len(STEPS)} steps" in loud.stderr
    assert "done" in loud.stderr
    quiet = drift(world, whole_url, "--reference", str(reference), "--current",
                  str(world.data_path), "--quiet")
    assert quiet.stderr == ""
    assert quiet.exit_code == loud.exit_code
    assert quiet.stdout.splitlines()[-1] == loud.stdout.splitlines()[-1]
