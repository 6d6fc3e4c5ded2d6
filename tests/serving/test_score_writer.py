"""Batch scores reach `--out` whole or not at all: a run stopped part-way keeps the old file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from serving.batch import SCORE_COLUMNS, ScoringError, _ScoreWriter


def chunk(first: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"listing_id": [f"L{i}" for i in range(first, first + rows)],
                         "score": 0.5, "band": "review", "model_version": "m/1",
                         "reasons": "price"})[list(SCORE_COLUMNS)]


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet"])
def test_an_interrupted_run_leaves_the_earlier_scores_and_no_partial_file(
        tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    with _ScoreWriter(out) as writer:
        writer.write(chunk(0, 10))
        writer.close()
    before = out.read_bytes()
    with pytest.raises(KeyboardInterrupt), _ScoreWriter(out) as writer:
        writer.write(chunk(100, 3))
        raise KeyboardInterrupt  # Ctrl-C between two chunks
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet"])
def test_a_run_that_scores_nothing_writes_a_readable_file_of_the_columns(
        tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    with _ScoreWriter(out) as writer:
        writer.close()
    read = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
    assert list(read.columns) == list(SCORE_COLUMNS) and read.empty


def test_scores_written_through_a_link_go_to_the_file_it_points_to(tmp_path: Path) -> None:
    kept = tmp_path / "kept" / "scores.csv"
    kept.parent.mkdir()
    kept.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(kept)
    with _ScoreWriter(link) as writer:
        writer.write(chunk(0, 2))
        writer.close()
    assert link.is_symlink() and pd.read_csv(kept)["listing_id"].tolist() == ["L0", "L1"]
    assert sorted(p.name for p in kept.parent.iterdir()) == ["scores.csv"]


def test_a_name_near_the_file_systems_limit_is_written(tmp_path: Path) -> None:
    """The hidden file's own name is short: an `--out` the file system takes is written."""
    out = tmp_path / ("s" * 250 + ".csv")
    with _ScoreWriter(out) as writer:
        writer.write(chunk(0, 1))
        writer.close()
    assert pd.read_csv(out)["listing_id"].tolist() == ["L0"]


def test_a_place_no_file_can_be_made_is_an_error_before_any_scoring() -> None:
    with pytest.raises(ScoringError, match="cannot write --out"):
        _ScoreWriter(Path("/proc/strikeout-scores.csv"))  # not even root makes a file there


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet"])
def test_a_finished_run_replaces_the_file_with_every_chunk(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    out.write_text("old")
    with _ScoreWriter(out) as writer:
        writer.write(chunk(0, 4))
        writer.write(chunk(4, 3))
        assert out.read_text() == "old"  # nothing in place before the end
        writer.close()
    read = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
    assert read["listing_id"].tolist() == [f"L{i}" for i in range(7)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
