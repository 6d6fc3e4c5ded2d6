"""`strikeout`: one entry point for every job. Parses arguments and calls the packages; no logic."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, redirect_stderr
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.exceptions import TyperException

from features.contract import DataContractError, load_marketplace, table_in_the_way
from training.config import ConfigError, TrainingConfig, load_config

if TYPE_CHECKING:
    from pydantic import ValidationError

    from serving.batch import BatchSummary
    from serving.ledger.ledger import Ledger
    from serving.spark_scoring import SparkBatchSummary

class PlainErrors(typer.Typer):
    """The command line: a mistaken flag is one `error:` line and exit code 2, as every
    other refusal is (Typer draws a box around it), so that scripts can read it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            code = super().__call__(*args, **{**kwargs, "standalone_mode": False})
        except TyperException as exc:  # the base of the click errors Typer ships
            message = exc.format_message()  # type: ignore[attr-defined]
            if type(exc).__name__ == "NoArgsIsHelpError":  # as Typer tells it apart
                typer.echo(message)  # the help, and the usage error's exit code
                sys.exit(exc.exit_code)  # type: ignore[attr-defined]
            ctx = getattr(exc, "ctx", None)
            see = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            typer.secho(f"error: {message}{see}", fg=typer.colors.RED, err=True)
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:  # Ctrl-C at a prompt
            typer.echo("aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = PlainErrors(
    help="strikeout: counterfeit-listing risk scoring, strike ledger and review queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """strikeout: counterfeit-listing risk scoring, strike ledger and review queue."""


BUSY = "the ledger is busy (another process holds its write lock); try again"


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def writable_file(path: Path, flag: str = "--out", datasets: Sequence[Path] = ()) -> None:
    """Make `path`'s folder, or stop with a clear error before any work is done: a folder
    where a file should go, a file that would overwrite or shadow a table of one of
    `datasets` (the ones the command reads), a folder that cannot be made or written to,
    a read-only file."""
    if path.is_dir():
        fail(f"{flag} {path} is a folder; name a file")
    where = path.resolve()  # `a/b/..` makes no folder b
    for dataset in datasets:
        table = table_in_the_way(str(where), str(dataset.resolve()))
        if table is not None:
            fail(f"{flag} {path} would overwrite or shadow the dataset's own {table} table; "
                 "write it elsewhere")
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=where.parent):  # can a file be made there at all?
            pass
        if where.exists() and not os.access(where, os.W_OK):
            raise PermissionError(errno.EACCES, "the file is read-only")
    except OSError as exc:
        fail(f"cannot write {flag} {path}: {exc.strerror or exc}")


def new_dataset_folder(path: Path, flag: str = "--out") -> None:
    """Make the folder a dataset is about to be written into, or stop with a clear error
    before any work: a folder holding a dataset already, a file, a folder that cannot be
    made or written to."""
    from features.contract import check_new_dataset_folder

    try:
        check_new_dataset_folder(path)
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # can a file be made there at all?
            pass
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {flag} {path}: {exc.strerror or exc}")


def known_settings() -> None:
    """Stop with a clear error on a `STRIKEOUT_*` variable nothing reads (a misspelt setting)."""
    from serving.settings import unknown_variables

    unknown = unknown_variables()
    if unknown:
        fail(f"unknown setting(s): {'; '.join(unknown)}")


def tracking() -> None:
    """Point MLflow at the tracking store, or stop with a clear error before any work is
    done (a STRIKEOUT_HOME that is a file or cannot be made)."""
    from training.tracking import connect

    known_settings()
    try:
        connect()
    except OSError as exc:
        fail(f"cannot use the MLflow tracking store: {exc}")


def open_ledger(existing: bool = False) -> Ledger:
    """The ledger the settings name, or a clear error (exit 2) instead of a traceback: an
    invalid STRIKEOUT_* setting, a ledger URL or file that is not a database, a database
    server that does not answer; with `existing`, a SQLite ledger not made yet (reading
    commands would otherwise make an empty one and report on it)."""
    from pydantic import ValidationError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from serving.ledger.ledger import Ledger
    from serving.settings import LedgerSettings

    known_settings()
    try:
        settings = LedgerSettings()
        url = make_url(settings.database_url)
        path = url.database or ""
        if (existing and url.get_backend_name() == "sqlite" and path not in ("", ":memory:")
                and not Path(path).exists()):
            fail(f"no ledger at {path}: `strikeout ledger import` or `strikeout serve` makes "
                 "it (or set STRIKEOUT_HOME / STRIKEOUT_LEDGER_URL)")
        return Ledger.open(settings)
    except ValidationError as exc:
        fail(settings_problems(exc))
    except DBAPIError as exc:
        fail(f"cannot open the ledger: {exc.orig}")
    except (ArgumentError, OSError) as exc:
        fail(f"cannot open the ledger: {exc}")


def settings_problems(exc: ValidationError) -> str:
    """A settings ValidationError as `STRIKEOUT_NAME: what is wrong`, one per setting."""
    return "; ".join(
        f"STRIKEOUT_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors())


@contextmanager
def step_bar(name: str, steps: Sequence[str], quiet: bool) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr over a job's named steps; the job calls back as each starts.

    Quiet, stderr stays empty: what libraries print there (MLflow's registry messages and
    warnings) is held back, and shown only if the job fails.
    """
    from tqdm import tqdm

    held = io.StringIO()
    try:
        with ExitStack() as stack:
            if quiet:
                stack.enter_context(redirect_stderr(held))
            bar = stack.enter_context(tqdm(
                total=len(steps), desc=name, disable=quiet, file=sys.stderr,
                bar_format="{desc}: {n}/{total} steps |{bar:20}| {elapsed}{postfix}"))

            def start(step: str) -> None:
                bar.update(steps.index(step) - bar.n)  # the steps before it are done
                bar.set_postfix_str(step)

            yield start
            bar.update(bar.total - bar.n)
            bar.set_postfix_str("done")
    except BaseException:
        sys.stderr.write(held.getvalue())
        raise


@app.command()
def validate(
    data: Path = typer.Option(..., "--data", help="Dataset folder (data contract)."),
) -> None:
    """Check a dataset folder against the data contract and print its table sizes."""
    known_settings()
    try:
        market = load_marketplace(data)
    except DataContractError as exc:
        fail(str(exc))
    for name, frame in market.tables().items():
        typer.echo(f"{name:<11} {len(frame):>10,} rows  ({market.sources[name].name})")


def _load_training_config(config_path: Path | None) -> TrainingConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="Labelled dataset folder (data contract)."),
    config: Path | None = typer.Option(None, "--config", help="Training config (JSON or TOML)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar; print only the result."),
) -> None:
    """Train a model on a time split, log it to MLflow and register it as `challenger`."""
    from training.train import STEPS, TrainingDataError
    from training.train import train as run_training

    settings = _load_training_config(config)
    tracking()
    try:
        with step_bar("train", STEPS, quiet) as progress:
            result = run_training(data, settings, progress=progress)
    except (DataContractError, TrainingDataError, ValueError) as exc:
        fail(str(exc))
    m = result.metrics
    typer.echo(f"{settings.registered_model_name} version {result.model_version} "
               f"(alias challenger), run {result.run_id}")
    typer.echo(f"test PR-AUC {m['test_pr_auc']:.4f}  ROC-AUC {m['test_roc_auc']:.4f}  "
               f"recall@90%P {m['test_recall_at_90_precision']:.4f}  "
               f"P@capacity {m['test_precision_at_capacity']:.4f}  "
               f"ECE {m['test_ece_before_calibration']:.4f} -> {m['test_ece']:.4f}  "
               f"Brier {m['test_brier_before_calibration']:.4f} -> {m['test_brier']:.4f}")
    typer.echo(f"report: {result.report_path}")
    for caveat in result.caveats:
        typer.echo(f"warning: {caveat}")


@app.command()
def promote(
    version: str | None = typer.Option(None, "--version",
                                       help="Model version (default: @challenger)."),
    data: Path | None = typer.Option(None, "--data", help="Dataset holding the held-out slice "
                                     "(default: the one the candidate was trained on)."),
    config: Path | None = typer.Option(None, "--config", help="Training config (tolerance)."),
) -> None:
    """Move the `champion` alias to a candidate if it is not worse than the champion."""
    from training.model import NotAListingModel, UnpricedCurrency
    from training.registry import PromotionError
    from training.registry import promote as run_promotion

    settings = _load_training_config(config)
    tracking()
    try:
        decision = run_promotion(settings, version, data)
    except (PromotionError, DataContractError, NotAListingModel, UnpricedCurrency) as exc:
        fail(str(exc))
    verb = "promoted" if decision.promoted else "refused"
    typer.echo(f"{verb}: version {decision.candidate_version}: {decision.reason}")
    if not decision.promoted:
        raise typer.Exit(1)


@app.command()
def evaluate(
    model: str = typer.Option("models:/strikeout-listing-risk@champion", "--model",
                              help="MLflow model URI."),
    data: Path = typer.Option(..., "--data", help="Labelled dataset folder (data contract)."),
    out: Path = typer.Option(Path("evaluation_report.html"), "--out", help="HTML report to write."),
    config: Path | None = typer.Option(None, "--config", help="Training config (review capacity)."),
) -> None:
    """Write the evaluation report (metrics by slice, plots) of a model on a labelled dataset."""
    from mlflow.exceptions import MlflowException

    from training.evaluate import evaluate_model
    from training.model import NotAListingModel, UnpricedCurrency
    from training.train import TrainingDataError

    settings = _load_training_config(config)
    if out.suffix.lower() not in (".html", ".htm") and not out.is_dir():
        fail(f"--out {out}: the report is HTML; name a .html file")  # so never a table
    writable_file(out)
    tracking()
    try:
        result = evaluate_model(model, data, out, settings.review_capacity_share,
                                settings.shap_sample)
    except (DataContractError, TrainingDataError, NotAListingModel, UnpricedCurrency) as exc:
        fail(str(exc))
    except MlflowException as exc:
        fail(f"cannot load model {model}: {exc.message}")
    typer.echo(f"model: {result.model}")
    for key, value in result.overall.items():
        typer.echo(f"{key:<24} {value:.4f}")
    for caveat in result.caveats:
        typer.echo(f"warning: {caveat}")
    typer.echo(f"report: {out}")


class Engine(StrEnum):
    pandas = "pandas"
    spark = "spark"


class DatasetFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


MAX_SYNTH_LISTINGS = 50_000_000


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the five tables into."),
    listings: int | None = typer.Option(None, "--listings", min=1, max=MAX_SYNTH_LISTINGS,
                                        help="Number of listings (default: SynthConfig; at "
                                             f"most {MAX_SYNTH_LISTINGS:,}: the marketplace is "
                                             "built in memory)."),
    seed: int | None = typer.Option(None, "--seed", min=0,
                                    help="Random seed (default: SynthConfig)."),
    fmt: DatasetFormat = typer.Option(DatasetFormat.csv, "--format", help="Table file format."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar and no summary."),
) -> None:
    """Generate a synthetic marketplace into a dataset folder (docs/synthetic-marketplace.md)."""
    from tqdm import tqdm

    from features.contract import save_marketplace
    from features.synthetic import SynthConfig, generate_marketplace

    known_settings()
    new_dataset_folder(out)
    defaults = SynthConfig()
    try:
        config = SynthConfig(n_listings=defaults.n_listings if listings is None else listings,
                             seed=defaults.seed if seed is None else seed)
    except ValueError as exc:
        fail(str(exc))
    with tqdm(total=config.n_listings, unit=" listings", disable=quiet, file=sys.stderr,
              desc="synth") as bar:
        market = generate_marketplace(config, progress=lambda done: bar.update(done - bar.n))
        bar.set_postfix_str(f"writing {fmt.value}")
        save_marketplace(market, out, fmt=fmt.value)
    if not quiet:
        for name, frame in market.tables().items():
            typer.echo(f"{name:<11} {len(frame):>10,} rows")
        typer.echo(f"wrote {out} (seed {config.seed}, "
                   f"label rate {market.listings['label'].mean():.2%})")


@app.command()
def score(
    data: Path = typer.Option(..., "--data",
                              help="Dataset folder (data contract); labels ignored."),
    out: Path = typer.Option(..., "--out", help="Scores file: .csv or .parquet."),
    model: str = typer.Option("models:/strikeout-listing-risk@champion", "--model",
                              help="MLflow model URI."),
    since: str | None = typer.Option(
        None, "--since", help="Score only listings created at or after this moment (ISO 8601; "
        "UTC when it has no zone); older ones are history."),
    chunk_rows: int = typer.Option(200_000, "--chunk-rows", min=1_000,
                                   help="Listings held in memory at a time."),
    engine: Engine = typer.Option(Engine.pandas, "--engine",
                                  help="pandas (this machine) or spark (a Parquet folder out)."),
    master: str | None = typer.Option(
        None, "--master", help="Spark master URL (default: spark-submit's, else local[*])."),
    partitions: int | None = typer.Option(
        None, "--partitions", min=1,
        help="Spark tasks of the scoring stage (default: two per core of the cluster)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score a dataset's listings and write listing_id, score, band, model_version, reasons."""
    import pandas as pd
    from tqdm import tqdm

    from serving.batch import ScoringError, score_dataset

    start = _utc_moment(since, "--since")
    if engine is Engine.pandas and (master is not None or partitions is not None):
        fail("--master and --partitions are for --engine spark")
    if engine is Engine.pandas:  # Spark writes a folder, maybe on another file system
        writable_file(out)
    tracking()
    moment = None if start is None else pd.Timestamp(start)
    summary: BatchSummary | SparkBatchSummary
    tasks = ""
    try:
        if engine is Engine.spark:
            from serving.spark_scoring import SparkScoringConfig, score_dataset_spark

            summary = score_dataset_spark(model, str(data), str(out), moment,
                                          SparkScoringConfig(master=master, chunk_rows=chunk_rows,
                                                             partitions=partitions))
            tasks = f" in {summary.tasks} tasks"
        else:
            with tqdm(unit=" listings", disable=quiet, file=sys.stderr, desc="score") as bar:
                summary = score_dataset(model, data, out, chunk_rows, moment, progress=bar.update)
    except (DataContractError, ScoringError) as exc:
        fail(str(exc))
    bands = ", ".join(f"{k} {v:,}" for k, v in summary.bands.items())
    typer.echo(f"scored {summary.listings_scored:,} of {summary.listings_read:,} listings with "
               f"{summary.model_version}{tasks}: {bands}")
    typer.echo(f"wrote {summary.out_path}")


keys_app = typer.Typer(help="API keys for the service and the ledger.", no_args_is_help=True)
ledger_app = typer.Typer(help="The strike ledger: complaints, strikes, freezes.",
                         no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(ledger_app, name="ledger")


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(
        ..., "--role", help="One of: scorer, brand, reviewer, senior (senior reviewer), admin."),
    brand: str | None = typer.Option(None, "--brand", help="The brand a brand key files for."),
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from serving.keys import create_key
    from serving.ledger.store import LedgerBusyError

    ledger = open_ledger()
    try:
        issued = create_key(ledger.store, role, brand)
    except LedgerBusyError as exc:
        fail(f"{BUSY}: {exc}")
    except ValueError as exc:
        fail(str(exc))
    finally:
        ledger.close()
    typer.echo(issued.key)
    scope = f" for brand {brand}" if brand else ""
    typer.secho(f"created {role} key {issued.principal.key_id}{scope}; it is shown only now.",
                err=True)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key's id, as `keys list` shows it."),
) -> None:
    """Revoke a key for good: every route refuses it (401) at once, /score within
    STRIKEOUT_AUTH_CACHE_S seconds (10 by default)."""
    from serving.keys import UnknownKey, revoke_key
    from serving.ledger.store import LedgerBusyError

    ledger = open_ledger(existing=True)
    try:
        record = revoke_key(ledger.store, key_id)
    except UnknownKey as exc:
        fail(str(exc))
    except LedgerBusyError as exc:
        fail(f"{BUSY}: {exc}")
    finally:
        ledger.close()
    assert record.revoked_at is not None
    typer.echo(f"revoked {record.principal.role} key {key_id} at "
               f"{record.revoked_at.isoformat(timespec='seconds')}")


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, role, brand, created and revoked (UTC); never the key itself."""
    from serving.keys import list_keys, printable

    ledger = open_ledger(existing=True)
    try:
        records = list_keys(ledger.store)
    finally:
        ledger.close()
    typer.echo("key_id\trole\tbrand\tcreated_at\trevoked_at")
    for r in records:
        revoked = r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "-"
        brand = printable(r.principal.brand) if r.principal.brand else "-"
        typer.echo(f"{r.principal.key_id}\t{r.principal.role}\t{brand}\t"
                   f"{r.created_at.isoformat(timespec='seconds')}\t{revoked}")


@ledger_app.command("import")
def ledger_import(
    data: Path = typer.Option(..., "--data", help="Dataset folder (data contract)."),
) -> None:
    """Load a dataset's complaint history into the ledger; importing again changes nothing."""
    from serving.history_store import HistoryStore, import_listings
    from serving.ledger.ledger import ImportConflict
    from serving.ledger.store import LedgerBusyError

    try:
        market = load_marketplace(data)  # a broken dataset leaves no new ledger behind
    except DataContractError as exc:
        fail(str(exc))
    ledger = open_ledger()
    try:
        plan = ledger.plan_import(market, data)  # refused before anything is written
        # listings first: a freeze in the complaint history takes its seller's listings down
        history = import_listings(HistoryStore(ledger.store), market)
        report = ledger.apply_import(plan)
    except (DataContractError, ImportConflict) as exc:
        fail(str(exc))
    except LedgerBusyError as exc:
        fail(f"{BUSY}: {exc}")
    finally:
        ledger.close()
    typer.echo(f"filed {report.filed}, decided {report.decided}, unchanged {report.unchanged}; "
               f"{report.strikes} strike(s), {report.freezes} freeze(s), "
               f"{report.takedowns} listing(s) taken down")
    typer.echo(f"history: {history.sellers} seller(s), {history.listings} listing(s) added")
    if history.other_owner_count:
        shown = ", ".join(f"{listing} ({given} in the dataset, stored as {stored}'s)"
                          for listing, given, stored in history.other_owner)
        typer.secho(f"warning: {history.other_owner_count} listing(s) of the dataset are stored "
                    f"under another seller, who keeps them (the first write stands): {shown}",
                    err=True)


@ledger_app.command("seller")
def ledger_seller(seller_id: str = typer.Argument(..., help="The seller's id.")) -> None:
    """Print a seller's strikes, freezes and complaints (as GET /sellers/{id} returns them)."""
    from serving.ledger_api import SellerResponse

    ledger = open_ledger(existing=True)
    try:
        state = ledger.seller(seller_id)
    finally:
        ledger.close()
    typer.echo(json.dumps(SellerResponse.of(state).model_dump(mode="json"), indent=2))


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute the hash chain and check the derived tables; exit 1 if anything is wrong."""

    ledger = open_ledger(existing=True)
    try:
        report = ledger.verify()
    finally:
        ledger.close()
    if not report.ok:
        where = f" at seq {report.broken_seq}" if report.broken_seq is not None else ""
        fail(f"ledger verification failed{where}:\n" + "\n".join(report.problems), code=1)
    typer.echo(f"ok: {report.events} events, chain head {report.head_hash}")


def _utc_moment(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (without an offset it is taken as UTC)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-03-01 or "
             "2026-03-01T08:00:00Z)")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@app.command()
def drift(
    reference: Path = typer.Option(..., "--reference", help="Dataset the model was trained on."),
    current: Path | None = typer.Option(None, "--current", help="Recent dataset to compare."),
    served: bool = typer.Option(False, "--served",
                                help="Compare the listings the service scored instead (the "
                                "history store in the ledger database: STRIKEOUT_LEDGER_URL, "
                                "else under STRIKEOUT_HOME)."),
    since: str | None = typer.Option(None, "--since", help="With --served: listings created at "
                                     "or after this ISO time (UTC unless it says otherwise)."),
    until: str | None = typer.Option(None, "--until", help="With --served: listings created "
                                     "before this ISO time."),
    model: str = typer.Option("models:/strikeout-listing-risk@champion", "--model",
                              help="MLflow model URI whose features and score are compared."),
    threshold: float = typer.Option(0.2, "--threshold", min=0.0,
                                    help="PSI above which a feature is flagged."),
    out: Path | None = typer.Option(None, "--out", help="Also write the table as CSV."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar; print only flagged "
                                                      "features."),
) -> None:
    """Population stability index of every feature and of the score; exit 1 if any drifted.

    The current population is a dataset (--current) or the listings the service scored
    (--served), optionally those created in [--since, --until).
    """
    from mlflow.exceptions import MlflowException

    from serving.population import EmptyWindow, served_population
    from training.drift import STEPS, EmptyPopulation, Population, drift_report
    from training.model import ListingRiskModel, NotAListingModel, UnpricedCurrency

    if (current is None) == (not served):
        fail("give exactly one of --current DIR and --served")
    if current is not None and (since or until):
        fail("--since and --until select served listings; they go with --served")
    start, end = _utc_moment(since, "--since"), _utc_moment(until, "--until")
    if start is not None and end is not None and start >= end:
        fail(f"--since {since} is not before --until {until}")
    if out is not None:
        writable_file(out, datasets=[reference] + ([current] if current is not None else []))
    tracking()

    def scored_listings(loaded: ListingRiskModel) -> Population:
        ledger = open_ledger(existing=True)
        try:
            population = served_population(ledger, loaded.brands, loaded.fx_rates, start, end)
        finally:
            ledger.close()
        return population.market, population.targets

    try:
        with step_bar("drift", STEPS, quiet) as progress:
            table = drift_report(model, reference, current or scored_listings, threshold,
                                 progress=progress)
    except (DataContractError, EmptyWindow, EmptyPopulation, NotAListingModel,
            UnpricedCurrency) as exc:
        fail(str(exc))
    except MlflowException as exc:
        fail(f"cannot load model {model}: {exc.message}")
    if out is not None:
        table.to_csv(out, index=False)
    shown = table[table["drifted"]] if quiet else table
    if len(shown):
        typer.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    flagged = int(table["drifted"].sum())
    typer.echo(f"{flagged} of {len(table)} drifted (PSI > {threshold})")
    if flagged:
        raise typer.Exit(1)


@app.command()
def card(
    out: Path = typer.Option(Path("models/README.md"), "--out", help="Where to write the card."),
    alias: str = typer.Option("champion", "--alias", help="Registry alias to describe."),
    config: Path | None = typer.Option(None, "--config",
                                       help="Training config (its registered_model_name)."),
) -> None:
    """Write the model card of the champion from its MLflow run."""
    from mlflow.exceptions import MlflowException

    from training.card import write_card

    name = _load_training_config(config).registered_model_name
    writable_file(out)
    tracking()
    try:
        path = write_card(out, alias, name)
    except MlflowException as exc:
        fail(f"no model {name}@{alias}: {exc.message}")
    typer.echo(f"wrote {path}")


labels_app = typer.Typer(help="Labels from reviewers' decisions, for retraining.",
                         no_args_is_help=True)
app.add_typer(labels_app, name="labels")


@labels_app.command("export")
def labels_export(
    out: Path = typer.Option(..., "--out", help="Folder to write the dataset into."),
    fmt: DatasetFormat = typer.Option(DatasetFormat.csv, "--format", help="Table file format."),
) -> None:
    """Write the listings reviewers decided as a dataset (label 1 counterfeit, 0 not)."""
    from serving.labels import LabelExportError, export_labels

    ledger = open_ledger(existing=True)  # checks the settings first
    try:
        new_dataset_folder(out)
        result = export_labels(ledger, out, fmt.value)
    except LabelExportError as exc:
        fail(str(exc))
    finally:
        ledger.close()
    typer.echo(f"{result.listings:,} reviewed listings ({result.counterfeit:,} counterfeit, "
               f"{result.not_counterfeit:,} not), {result.sellers:,} sellers, "
               f"{result.complaints:,} complaints -> {result.out_path}")
    skipped = result.skipped_unscored + result.skipped_no_seller
    if skipped:
        typer.secho(f"left out {skipped:,} decided case(s): {result.skipped_unscored:,} never "
                    f"scored (no listing snapshot), {result.skipped_no_seller:,} without the "
                    f"seller's columns", err=True)


@app.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="Interface to listen on."),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes."),
) -> None:
    """Run the service (BentoML): /score, the ledger and review routes, health, metrics."""
    import os

    from pydantic import ValidationError

    from serving.service import serve_command
    from serving.settings import ServingSettings

    overrides = {k: v for k, v in (("host", host), ("port", port), ("workers", workers))
                 if v is not None}
    known_settings()
    try:
        settings = ServingSettings.model_validate(overrides)
    except ValidationError as exc:
        fail(settings_problems(exc))
    command, env = serve_command(settings)
    os.execve(command[0], command, env)
