"""`strikeout`: one entry point for every job. Parses arguments and calls the packages; no logic."""

from __future__ import annotations

from pathlib import Path

import typer

from features.contract import DataContractError, load_marketplace

app = typer.Typer(
    help="strikeout: counterfeit-listing risk scoring, strike ledger and review queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """strikeout: counterfeit-listing risk scoring, strike ledger and review queue."""


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def validate(data: Path = typer.Option(..., "--data", help="Dataset folder (data contract).")) -> None:
    """Check a dataset folder against the data contract and print its table sizes."""
    try:
        market = load_marketplace(data)
    except DataContractError as exc:
        fail(str(exc))
    for name, frame in market.tables().items():
        typer.echo(f"{name:<11} {len(frame):>10,} rows  ({market.sources[name].name})")
