"""The analysts' notebooks: committed without outputs, and each one runs top to bottom."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from training.config import load_config

NOTEBOOK_FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_FOLDER.glob("*.ipynb"))
CELL_TIMEOUT_S = 600
# run after a notebook's last cell, in its kernel: what its outputs claim, checked on its variables
CHECKS = {
    "02_": """
review_costs = per_threshold["review threshold cost"]
high_costs = per_threshold["high threshold cost"]
assert review_costs[chosen_bands.review] <= review_costs.min() + TIE_USD
assert high_costs[chosen_bands.high] <= (
    high_costs[high_costs.index > chosen_bands.review].min() + TIE_USD)
""",
    "03_": """
assert (false_alarms["label"] == 0).all() and set(false_alarms["band"]) <= {"review", "high"}
assert (misses["label"] == 1).all() and set(misses["band"]) <= {"low"}
assert len(false_alarms) == min(CASES, len(all_false_alarms))
assert len(misses) == min(CASES, len(all_misses))
""",
}


def test_the_three_notebooks_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_explore_marketplace.ipynb",
        "02_evaluation_and_thresholds.ipynb",
        "03_error_analysis.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and (
        cell.outputs or cell.execution_count is not None or "execution" in cell.metadata)]
    assert not dirty, (f"{path.name}: code cells {dirty} hold outputs or execution counts; "
                       "clear all outputs and save before committing")


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executes every cell in a fresh kernel on the notebook's own synthetic marketplace."""
    config_path = tmp_path / "training.toml"
    monkeypatch.delenv("STRIKEOUT_NOTEBOOK_DATA", raising=False)
    monkeypatch.setenv("STRIKEOUT_TRAINING_CONFIG", str(config_path))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    notebook = nbformat.read(path, as_version=4)
    for prefix, check in CHECKS.items():
        if path.stem.startswith(prefix):
            notebook.cells.append(nbformat.v4.new_code_cell(check.strip()))
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell on the first failure

    errors = [o for cell in notebook.cells if cell.cell_type == "code"
              for o in cell.outputs if o.output_type == "error"]
    assert not errors
    images = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no plots"
    if path.stem.startswith("02_"):
        assert "[bands]" in config_path.read_text(encoding="utf-8")
        chosen = load_config(config_path)  # the schema of `strikeout train --config`
        assert 0 < chosen.bands.review < chosen.bands.high < 1
    else:
        assert not config_path.exists(), f"{path.name} wrote a training config"
