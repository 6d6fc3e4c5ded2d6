"""Batch scores reach `--out` whole or not at all: a run stopped part-way keeps the old file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from serving.batch import SCORE_COLUMNS, _ScoreWriter


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
