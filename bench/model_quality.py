"""Model quality side by side on one time split, and the end-to-end training time.

`python -m bench.model_quality [--listings 250000]` generates a synthetic marketplace,
times `strikeout train` end to end (features, LightGBM, calibration, report, MLflow
logging) in a temporary STRIKEOUT_HOME, then judges on the same later test slice:
the trained model, (a) a price-discount rule, (b) TF-IDF + logistic regression on
the text, (c) LightGBM on the raw listing columns, and the ablation (LightGBM on
each feature family alone and on all). Writes bench/results/model_quality.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from bench.machine import machine_info
from features.contract import Marketplace, load_marketplace, save_marketplace
from features.pipeline import FeaturePipeline
from features.price import PriceFeatures, price_usd, registry_reference
from features.synthetic import SynthConfig, generate_marketplace
from training.config import TrainingConfig
from training.metrics import recall_at_precision
from training.split import time_split
from training.train import fit_booster, train

RESULTS = Path(__file__).parent / "results"
FAMILIES = ("price__", "text__", "seller__", "ring__")
RAW_NUMERIC = ("price_usd", "quantity", "image_count")
RAW_CATEGORICAL = ("category", "brand", "currency", "ships_from")


def figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"pr_auc": round(float(average_precision_score(y, p)), 4),
            "recall_at_90_precision": round(recall_at_precision(y, p), 4)}


def raw_columns(market: Marketplace) -> pd.DataFrame:
    listings = market.listings
    frame = pd.DataFrame({"price_usd": price_usd(listings, market.fx_rates),
                          "quantity": listings["quantity"], "image_count": listings["image_count"]})
    for col in RAW_CATEGORICAL:
        frame[col] = listings[col].astype("category")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = TrainingConfig()

    with tempfile.TemporaryDirectory(prefix="strikeout-bench-") as tmp:
        os.environ["STRIKEOUT_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        data = save_marketplace(generate_marketplace(
            SynthConfig(n_listings=args.listings, seed=args.seed)), Path(tmp) / "data")
        started = time.perf_counter()
        result = train(data, config)
        train_seconds = time.perf_counter() - started

        market = load_marketplace(data)
        listings = market.listings
        y = listings["label"].astype(int).to_numpy()
        split = time_split(listings["created_at"], config.split)
        model = mlflow.pyfunc.load_model(result.model_uri).unwrap_python_model()
        rows: dict[str, dict[str, float]] = {}
        rows["strikeout (calibrated model)"] = figures(
            y[split.test], model.score(market, split.test, with_reasons=False)["score"].to_numpy())

        enriched = listings.assign(
            price_usd=price_usd(listings, market.fx_rates),
            registry_reference_usd=registry_reference(listings, market.brands))
        price = PriceFeatures().fit(enriched[split.train], y[split.train])
        ratio = price.transform(enriched[split.test])["price__ratio_to_reference"].to_numpy()
        rows["(a) price-discount rule"] = figures(y[split.test], -ratio)

        text = (listings["title"] + " " + listings["description"]).to_numpy()
        tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True)
        lr = LogisticRegression(max_iter=2000, C=4.0).fit(
            tfidf.fit_transform(text[split.train]), y[split.train])
        rows["(b) TF-IDF + logistic regression on text"] = figures(
            y[split.test], lr.predict_proba(tfidf.transform(text[split.test]))[:, 1])

        raw = raw_columns(market)
        booster = fit_booster(config, raw[split.train], y[split.train],
                              raw[split.validation], y[split.validation])
        rows["(c) LightGBM on raw columns"] = figures(
            y[split.test], np.asarray(booster.predict(raw[split.test])))

        pipeline = FeaturePipeline()
        X_train = pipeline.fit_transform(market, y[split.train], split.train)
        X_val = pipeline.transform(market, split.validation)
        X_test = pipeline.transform(market, split.test)
        ablation: dict[str, dict[str, float]] = {}
        for family in (*FAMILIES, "all"):
            cols = [c for c in X_train.columns if family == "all" or c.startswith(family)]
            b = fit_booster(config, X_train[cols], y[split.train], X_val[cols], y[split.validation])
            ablation[family.rstrip("_") if family != "all" else "all families"] = figures(
                y[split.test], np.asarray(b.predict(X_test[cols].to_numpy())))

    best_baseline = max(v["pr_auc"] for k, v in rows.items() if k.startswith("("))
    ours = rows["strikeout (calibrated model)"]["pr_auc"]
    out = {
        "machine": machine_info(),
        "listings": args.listings, "seed": args.seed,
        "test_listings": int(split.test.sum()),
        "test_positive_rate": round(float(y[split.test].mean()), 4),
        "train_seconds_end_to_end": round(train_seconds, 1),
        "models": rows, "ablation": ablation,
        "pr_auc_gain_over_best_baseline": round(ours - best_baseline, 4),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model_quality.json").write_text(json.dumps(out, indent=2))
    lines = [f"Synthetic marketplace, {args.listings:,} listings (seed {args.seed}); test slice: "
             f"{out['test_listings']:,} later listings, "
             f"positive rate {out['test_positive_rate']:.2%}. "
             f"`strikeout train` end to end: {out['train_seconds_end_to_end']} s.", "",
             "| model | PR-AUC | recall at 90% precision |", "|---|---|---|"]
    lines += [f"| {k} | {v['pr_auc']:.3f} | {v['recall_at_90_precision']:.3f} |"
              for k, v in rows.items()]
    lines += ["", "| feature families (LightGBM, same split) | PR-AUC | recall at 90% precision |",
              "|---|---|---|"]
    lines += [f"| {k} | {v['pr_auc']:.3f} | {v['recall_at_90_precision']:.3f} |"
              for k, v in ablation.items()]
    (RESULTS / "model_quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
