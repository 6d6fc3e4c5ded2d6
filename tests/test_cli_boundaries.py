"""The command line refuses what would lose data or end in a traceback, with a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strikeout.cli import app
from tests.conftest import write_lock_held


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_synth_refuses_a_folder_that_holds_a_dataset(tiny_dataset: Path) -> None:
    before = (tiny_dataset / "listings.csv").read_text()
    code, output = run("synth", "--out", str(tiny_dataset), "--listings", "50", "--quiet")
    assert code == 2 and "already holds a dataset" in output and "listings.csv" in output
    assert (tiny_dataset / "listings.csv").read_text() == before
    code, output = run("synth", "--out", str(tiny_dataset / "listings.csv"), "--quiet")
    assert code == 2 and "is not a folder" in output


def test_synth_refuses_a_negative_seed(tmp_path: Path) -> None:
    code, output = run("synth", "--out", str(tmp_path / "d"), "--seed", "-1", "--quiet")
    assert code == 2 and "--seed" in output
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("name", ["listings.csv", "brands.parquet"])
def test_evaluate_and_drift_refuse_to_write_over_a_dataset_they_read(tiny_dataset: Path,
                                                                   name: str) -> None:
    before = {p.name: p.read_bytes() for p in tiny_dataset.iterdir()}
    target = str(tiny_dataset / name)
    code, output = run("evaluate", "--data", str(tiny_dataset), "--out", target)
    assert code == 2 and "the report is HTML" in output, output  # never a table's name
    elsewhere = tiny_dataset.parent / "new-folder" / "report.csv"
    code, output = run("evaluate", "--data", str(tiny_dataset), "--out", str(elsewhere))
    assert code == 2 and "the report is HTML" in output, output
    assert not elsewhere.parent.exists()  # refused before any folder is made
    code, output = run("drift", "--reference", str(tiny_dataset), "--current",
                       str(tiny_dataset), "--out", target, "--quiet")
    assert code == 2 and "overwrite or shadow the dataset's own" in output, output
    assert {p.name: p.read_bytes() for p in tiny_dataset.iterdir()} == before


def test_spark_flags_with_the_pandas_engine_are_refused(tiny_dataset: Path,
                                                        tmp_path: Path) -> None:
    for flag, value in (("--partitions", "4"), ("--master", "local[2]")):
        code, output = run("score", "--data", str(tiny_dataset), "--out",
                           str(tmp_path / "s.csv"), flag, value, "--quiet")
        assert code == 2 and "are for --engine spark" in output, output
    code, output = run("score", "--data", str(tiny_dataset), "--out", str(tmp_path / "s.csv"),
                       "--engine", "spark", "--partitions", "0", "--quiet")
    assert code == 2 and "--partitions" in output
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("name", ["listings.csv", "listings.parquet", "brands.csv",
                                  "listings.parquet/x/.."])
def test_score_refuses_to_write_over_its_own_dataset(tiny_dataset: Path, name: str) -> None:
    before = {p.name: p.read_bytes() for p in tiny_dataset.iterdir()}
    code, output = run("score", "--data", str(tiny_dataset), "--out", str(tiny_dataset / name),
                       "--model", "models:/none@champion", "--quiet")
    assert code == 2 and "overwrite or shadow the dataset's own" in output, output
    assert {p.name: p.read_bytes() for p in tiny_dataset.iterdir()} == before


def test_score_refuses_a_folder_as_its_output(tiny_dataset: Path, tmp_path: Path) -> None:
    folder = tmp_path / "scores.csv"
    folder.mkdir()
    code, output = run("score", "--data", str(tiny_dataset), "--out", str(folder),
                       "--model", "models:/none@champion", "--quiet")
    assert code == 2 and "is a folder" in output, output


@pytest.mark.parametrize(("setting", "value", "expected"), [
    ("STRIKEOUT_STRIKES_TO_FREEZE", "abc", "STRIKEOUT_STRIKES_TO_FREEZE: Input should be"),
    ("STRIKEOUT_STRIKE_SCOPE", "foo", "STRIKEOUT_STRIKE_SCOPE:"),
    ("STRIKEOUT_LEDGER_URL", "garbage", "cannot open the ledger"),
])
def test_a_bad_setting_is_a_clear_error_on_every_ledger_command(
        tmp_path: Path, setting: str, value: str, expected: str) -> None:
    env = {"STRIKEOUT_HOME": str(tmp_path / "home"), setting: value}
    for command in (["ledger", "verify"], ["ledger", "seller", "S1"],
                    ["keys", "create", "--role", "admin"],
                    ["labels", "export", "--out", str(tmp_path / "out")]):
        code, output = run(*command, env=env)
        assert code == 2 and expected in output and "Traceback" not in output, (command, output)


def test_a_ledger_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.sqlite").write_bytes(b"not a database at all" * 100)
    code, output = run("ledger", "verify", env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and "cannot open the ledger" in output and "not a database" in output


@pytest.mark.parametrize("command", [["evaluate", "--data", "."], ["card"]])
def test_a_folder_as_an_output_file_is_refused_before_any_work(
        tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "home"
    code, output = run(*command, "--out", str(tmp_path), env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and f"--out {tmp_path} is a folder" in output, output
    assert not home.exists()  # no model looked up, no tracking store made


def test_a_model_that_is_not_a_strikeout_model_is_named_as_such(
        tiny_dataset: Path, tmp_path: Path) -> None:
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input

    path = tmp_path / "echo"
    mlflow.pyfunc.save_model(str(path), python_model=Echo())
    env = {"STRIKEOUT_HOME": str(tmp_path / "home")}
    for command in (["evaluate", "--data", str(tiny_dataset), "--out", str(tmp_path / "e.html")],
                    ["score", "--data", str(tiny_dataset), "--out", str(tmp_path / "s.csv"),
                     "--quiet"]):
        code, output = run(*command, "--model", str(path), env=env)
        assert code == 2 and "is not a strikeout listing-risk model (it holds a Echo)" in output, (
            command, output)


def test_a_broken_dataset_leaves_no_new_ledger_behind(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    home = tmp_path / "home"
    code, output = run("ledger", "import", "--data", str(tmp_path / "data"),
                       env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and "table missing: no listings.csv" in output, output
    code, output = run("ledger", "seller", "S1", env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and "no ledger" in output.lower(), output


def test_keys_are_listed_and_revoked_by_id(tmp_path: Path) -> None:
    env = {"STRIKEOUT_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}"}
    code, output = run("keys", "create", "--role", "brand", "--brand", "Arvedo", env=env)
    assert code == 0, output
    key_id = output.split("created brand key ")[1].split()[0]
    code, output = run("keys", "list", env=env)
    assert code == 0 and f"{key_id}\tbrand\tArvedo\t" in output and output.rstrip().endswith("-")
    code, output = run("keys", "revoke", key_id, env=env)
    assert code == 0 and f"revoked brand key {key_id}" in output
    code, output = run("keys", "list", env=env)
    assert not output.rstrip().endswith("-")
    code, output = run("keys", "revoke", "nope", env=env)
    assert code == 2 and "no key with id 'nope'" in output


@pytest.mark.parametrize("command", [["evaluate", "--data", "."], ["card"],
                                     ["score", "--data", ".", "--quiet"],
                                     ["drift", "--reference", ".", "--current", ".", "--quiet"]])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
        tmp_path: Path, command: list[str]) -> None:
    suffix = ".html" if command[0] == "evaluate" else ".csv"  # evaluate writes HTML
    out = Path(f"/proc/strikeout-out{suffix}")  # no file can be made there, not even by root
    home = tmp_path / "home"
    code, output = run(*command, "--out", str(out), env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and f"cannot write --out {out}" in output, output
    assert not home.exists()  # no model looked up, no tracking store made


@pytest.mark.parametrize("command", [["train", "--data", "."], ["promote"],
                                     ["evaluate", "--data", "."], ["card"],
                                     ["score", "--data", ".", "--quiet"]])
def test_a_home_that_is_a_file_is_a_clear_error(
        tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    out = {"evaluate": "o.html", "card": "o.md", "score": "o.csv"}.get(command[0])
    code, output = run(*command, *(["--out", str(tmp_path / out)] if out else []),
                       env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and "cannot use the MLflow tracking store" in output, output


@pytest.mark.parametrize(("config", "field"), [
    ({"booster": {"positive_weight": -1}}, "positive_weight"),
    ({"booster": {"positive_weight": "Infinity"}}, "positive_weight"),
    ({"booster": {"num_leaves": 1_000_000}}, "num_leaves"),
    ({"booster": {"seed": 99_999_999_999}}, "seed"),
    ({"split": {"gap_days": 1e12}}, "gap_days"),
    ({"registered_model_name": ""}, "registered_model_name"),
    ({"registered_model_name": "a/b"}, "registered_model_name"),
    ({"experiment_name": ""}, "experiment_name"),
])
def test_a_config_training_could_not_use_is_refused_naming_the_field(
        tmp_path: Path, config: dict, field: str) -> None:
    import json

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    home = tmp_path / "home"
    code, output = run("train", "--data", ".", "--config", str(path),
                       env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and field in output and str(path) in output, output
    assert not home.exists()  # refused before any run


@pytest.mark.parametrize("command", [["ledger", "verify"], ["synth", "--out", "new"],
                                     ["validate", "--data", "."]])
def test_a_misspelt_setting_is_named_with_the_one_it_looks_like(
        tmp_path: Path, command: list[str]) -> None:
    command = [str(tmp_path / c) if c == "new" else c for c in command]
    code, output = run(*command, env={"STRIKEOUT_HOME": str(tmp_path),
                                      "STRIKEOUT_STRIKES_TO_FREEZ": "1"})
    assert code == 2, output
    assert "STRIKEOUT_STRIKES_TO_FREEZ (did you mean STRIKEOUT_STRIKES_TO_FREEZE?)" in output
    assert not (tmp_path / "new").exists()


def test_labels_export_to_a_folder_that_cannot_be_written_is_a_clear_error(
        tmp_path: Path) -> None:
    env = {"STRIKEOUT_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}"}
    assert run("keys", "create", "--role", "admin", env=env)[0] == 0  # a ledger to read
    out = Path("/proc/strikeout-labels")  # no folder can be made there, not even by root
    code, output = run("labels", "export", "--out", str(out), env=env)
    assert code == 2 and f"cannot write --out {out}" in output, output


@pytest.mark.parametrize("command", [["ledger", "verify"], ["ledger", "seller", "S1"],
                                     ["keys", "list"]])
def test_reading_a_ledger_that_was_never_made_makes_none(tmp_path: Path,
                                                         command: list[str]) -> None:
    home = tmp_path / "hmoe"
    code, output = run(*command, env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and "no ledger at" in output, output
    assert not (home / "ledger.sqlite").exists()
    url = f"sqlite+pysqlite:///{tmp_path / 'nothere' / 'ledger.sqlite'}?timeout=5"
    code, output = run(*command, env={"STRIKEOUT_LEDGER_URL": url})
    assert code == 2 and "no ledger at" in output, output
    assert not (tmp_path / "nothere").exists()


def test_score_reads_since_as_drift_does_and_refuses_what_is_not_a_time(
        tiny_dataset: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, output = run("score", "--data", str(tiny_dataset), "--out", str(tmp_path / "s.csv"),
                       "--since", "last week", env={"STRIKEOUT_HOME": str(home)})
    assert code == 2 and "--since 'last week' is not an ISO 8601 time" in output, output
    assert not home.exists()


def test_synth_refuses_more_listings_than_it_can_hold(tmp_path: Path) -> None:
    code, output = run("synth", "--out", str(tmp_path / "d"), "--listings", "99999999999999")
    assert code == 2 and "--listings" in output
    assert not (tmp_path / "d").exists()


def test_a_busy_ledger_is_a_clear_error_for_the_keys_commands(tmp_path: Path) -> None:
    env = {"STRIKEOUT_HOME": str(tmp_path), "STRIKEOUT_BUSY_TIMEOUT_S": "0.05",
           "STRIKEOUT_WRITE_ATTEMPTS": "2"}
    code, output = run("keys", "create", "--role", "admin", env=env)
    key_id = output.split("created admin key ")[1].split(";")[0]
    with write_lock_held(tmp_path / "ledger.sqlite"):  # another process writing
        for command in (["keys", "revoke", key_id], ["keys", "create", "--role", "scorer"]):
            code, output = run(*command, env=env)
            assert code == 2 and "the ledger is busy" in output, (command, output)


@pytest.mark.parametrize("args", [["synth", "--listings", "-5"], ["synth", "--listings", "5"],
                                  ["score", "--nope"], ["nosuch"]])
def test_a_mistaken_flag_is_one_error_line_from_the_installed_command(
        tmp_path: Path, args: list[str]) -> None:
    """What a script sees: `strikeout ...` as installed, not Typer's test runner."""
    if "-5" in args:  # a bad value, every other flag right
        args = [*args, "--out", str(tmp_path / "d")]
    done = subprocess.run([sys.executable, "-m", "strikeout", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("args", [[], ["ledger"], ["keys"], ["labels"]])
def test_a_command_group_without_a_command_shows_its_help_and_fails(args: list[str]) -> None:
    """A script that leaves out the command must not pass for one that ran."""
    done = subprocess.run([sys.executable, "-m", "strikeout", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Usage" in done.stdout, (done.returncode, done.stdout)
