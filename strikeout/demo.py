"""`make demo`: everything on one machine, from an empty STRIKEOUT_HOME to a running service.

Runs the same `strikeout` commands a user would, in order, and prints where to look.
Steps already done (data generated, a champion registered) are not repeated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEMO_LISTINGS = 60_000
DEMO_SEED = 7


def strikeout(*args: str, capture: bool = False) -> str:
    """Run one `strikeout` command as the user would; stop the demo if it fails."""
    command = [sys.executable, "-m", "strikeout", *args]
    print(f"$ strikeout {' '.join(args)}", flush=True)
    done = subprocess.run(command, check=False, text=True,
                          stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        sys.exit(f"demo stopped: `strikeout {' '.join(args)}` failed ({done.returncode})")
    return done.stdout or ""


def has_champion(home: Path) -> bool:
    """Whether the tracking store (the embedded one under `home`, or the shared server
    `MLFLOW_TRACKING_URI` names) has a champion already."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not (home / "mlflow.db").exists():
        return False  # asking would make an empty store
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from training.config import REGISTERED_MODEL_NAME
    from training.tracking import connect

    connect()
    try:
        MlflowClient().get_model_version_by_alias(REGISTERED_MODEL_NAME, "champion")
    except MlflowException:
        return False
    return True


def main() -> None:
    started = time.perf_counter()
    home = Path(os.environ.setdefault("STRIKEOUT_HOME", ".strikeout")).resolve()
    os.environ["STRIKEOUT_HOME"] = str(home)
    data = home / "demo-data"

    if not (data / "listings.csv").exists():
        strikeout("synth", "--out", str(data), "--listings", str(DEMO_LISTINGS),
                  "--seed", str(DEMO_SEED))
    if not has_champion(home):
        strikeout("train", "--data", str(data))
        strikeout("promote")
    strikeout("ledger", "import", "--data", str(data))
    keys_file = home / "demo-keys.txt"
    if not keys_file.exists():
        brand = _busiest_brand(data)
        keys = {
            "scorer": strikeout("keys", "create", "--role", "scorer", capture=True).strip(),
            "reviewer": strikeout("keys", "create", "--role", "reviewer", capture=True).strip(),
            "senior reviewer": strikeout("keys", "create", "--role", "senior",
                                         capture=True).strip(),
            "admin": strikeout("keys", "create", "--role", "admin", capture=True).strip(),
            f"brand ({brand})": strikeout("keys", "create", "--role", "brand", "--brand", brand,
                                          capture=True).strip(),
        }
        keys_file.write_text("".join(f"{role}: {key}\n" for role, key in keys.items()))
        keys_file.chmod(0o600)

    request = home / "demo-request.json"
    if not request.exists():
        _write_example_request(data, request)
    scorer_key = keys_file.read_text().splitlines()[0].partition(": ")[2]

    shared = os.environ.get("MLFLOW_TRACKING_URI")
    runs = (f"the MLflow server {shared}" if shared else
            f".venv/bin/mlflow ui --backend-store-uri sqlite:///{home / 'mlflow.db'}")
    print(f"\nset-up done in {time.perf_counter() - started:.0f} s, everything under {home}\n"
          f"  MLflow runs and models: {runs}\n"
          f"  demo API keys ({keys_file}):")
    print("".join(f"    {line}\n" for line in keys_file.read_text().splitlines()), end="")
    port = os.environ.get("STRIKEOUT_PORT", "3000")
    print(f"  data: {data}\n  ledger check: .venv/bin/strikeout ledger verify\n"
          f"  service: http://127.0.0.1:{port} (API spec /docs.json, health /readyz, "
          f"metrics /metrics)\n  review page: http://127.0.0.1:{port}/review "
          f"(sign in with the reviewer key; the senior queue takes the senior reviewer's)"
          f"\n  score a listing: curl -H 'Authorization: Bearer {scorer_key}' "
          f"-H 'Content-Type: application/json' -d @{request} http://127.0.0.1:{port}/score"
          f"\n\nstarting the service (Ctrl-C stops it)", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "strikeout", "serve"])


def _write_example_request(data: Path, out: Path) -> None:
    """A `/score` body of one new listing, listed now: a copy of the first counterfeit
    listing of the demo data under a fresh id, so the answer shows a band and reasons."""
    import pandas as pd

    listings = pd.read_csv(data / "listings.csv", dtype=str, keep_default_na=False)
    listing: dict[str, Any] = listings[listings["label"] == "1"].iloc[0].drop("label").to_dict()
    listing.update(listing_id=f"demo-{listing['listing_id']}",
                   created_at=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                   price=float(listing["price"]), quantity=int(listing["quantity"]),
                   image_count=int(listing["image_count"]))
    out.write_text(json.dumps({"listings": [listing]}, indent=2) + "\n")


def _busiest_brand(data: Path) -> str:
    import pandas as pd

    complaints = pd.read_csv(data / "complaints.csv", usecols=["brand"])
    return str(complaints["brand"].value_counts().index[0])


if __name__ == "__main__":
    main()
