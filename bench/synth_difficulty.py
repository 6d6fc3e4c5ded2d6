"""How hard is the synthetic marketplace? Simple baselines against a model that combines signals.

Run from the repo root: `python -m bench.synth_difficulty [--listings N] [--seed S]`.
Trains on the first two thirds of the period and scores the last third (PR-AUC
on the noisy labels, and recall on the true counterfeits by tactic). The
features here are deliberately quick, self-contained approximations, used only
to check the data; the product's features live in `features/`.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import cross_val_predict

from features.contract import Marketplace
from features.synthetic import SynthConfig, generate_with_truth

RESULTS_PATH = Path(__file__).parent / "results" / "synth_difficulty.json"
_SENTENCE = re.compile(r"(?<=[.!?]) |(?<=\d) (?=[A-Z])")
_BIG = 10**9


def _seconds(ts: pd.Series) -> np.ndarray:
    return (ts.astype("int64") // 10**9).to_numpy()


def _count_before(keys: np.ndarray, codes: np.ndarray, t: np.ndarray) -> np.ndarray:
    """How many (code, time) events in sorted `keys` have that code and a time before t."""
    return np.searchsorted(keys, codes * _BIG + t) - np.searchsorted(keys, codes * _BIG)


def price_ratio(m: Marketplace) -> pd.Series:
    fx = m.listings["currency"].map(m.fx_rates.set_index("currency")["usd_per_unit"])
    ref = pd.MultiIndex.from_frame(m.listings[["brand", "category"]]).map(
        m.brands.set_index(["brand", "category"])["reference_price"].to_dict().get)
    return pd.Series(m.listings["price"].to_numpy() * fx.to_numpy()
                     / np.asarray(ref, dtype=float), index=m.listings.index)


def seller_history(m: Marketplace) -> pd.DataFrame:
    """Point in time: account age, earlier listings, earlier complaints and upheld strikes."""
    listings = m.listings
    t = _seconds(listings["created_at"])
    sellers = m.sellers.set_index("seller_id")
    codes = pd.Categorical(listings["seller_id"], categories=sellers.index).codes.astype(np.int64)
    c = m.complaints
    c_codes = pd.Categorical(c["seller_id"], categories=sellers.index).codes.astype(np.int64)
    filed = np.sort(c_codes * _BIG + _seconds(c["filed_at"]))
    up = c["status"] == "upheld"
    upheld = np.sort(c_codes[up] * _BIG + _seconds(c.loc[up, "resolved_at"]))
    reg = _seconds(sellers["registered_at"])
    country = sellers["country"].to_numpy()
    order = np.argsort(reg)
    # registration burst: accounts from the same country registered within six hours
    burst = np.zeros(len(sellers))
    for k in np.unique(country):
        idx = order[country[order] == k]
        r = reg[idx]
        burst[idx] = np.searchsorted(r, r + 6 * 3600) - np.searchsorted(r, r - 6 * 3600) - 1
    return pd.DataFrame({
        "seller__age_days": (t - reg[codes]) / 86_400,
        "seller__verified": sellers["business_verified"].to_numpy()[codes].astype(int),
        "seller__ships_abroad": (country[codes] != listings["ships_from"].to_numpy()).astype(int),
        "seller__listings_before": listings.groupby("seller_id").cumcount().to_numpy(),
        "seller__complaints_before": _count_before(filed, codes, t),
        "seller__strikes_before": _count_before(upheld, codes, t),
        "seller__registration_burst": burst[codes],
    }, index=listings.index)


def ring_signals(m: Marketplace) -> pd.DataFrame:
    """Phrases shared with other accounts before the listing, and those accounts' strikes."""
    listings = m.listings
    seller = pd.Categorical(listings["seller_id"], categories=m.sellers["seller_id"])
    s = pd.DataFrame({"row": np.arange(len(listings)), "seller": seller.codes.astype(np.int64),
                      "t": _seconds(listings["created_at"]),
                      "sentence": listings["description"].str.split(_SENTENCE)}).explode(
        "sentence")
    s = s[s["sentence"].notna() & (s["sentence"] != "")]
    s["code"] = pd.factorize(s["sentence"])[0].astype(np.int64)
    first = s.groupby(["code", "seller"], as_index=False)["t"].min()
    keys = np.sort(first["code"].to_numpy() * _BIG + first["t"].to_numpy())
    others = _count_before(keys, s["code"].to_numpy(), s["t"].to_numpy())
    own = s.merge(first, on=["code", "seller"], suffixes=("", "_first"))["t_first"].to_numpy()
    others = others - (own < s["t"].to_numpy())
    s["others"] = others
    shared = s[s["others"] > 0]
    rarest = shared.groupby("row")["others"].min()
    # strikes of the accounts that share a rare phrase (a frozen ring mate betrays the ring)
    rare_codes = first.groupby("code")["seller"].nunique()
    rare_codes = rare_codes[rare_codes <= 40].index
    pairs = first[first["code"].isin(rare_codes)]
    rows = s[s["code"].isin(rare_codes)][["row", "seller", "t", "code"]]
    joined = rows.merge(pairs, on="code", suffixes=("", "_other"))
    joined = joined[(joined["seller_other"] != joined["seller"])
                    & (joined["t_other"] < joined["t"])].drop_duplicates(["row", "seller_other"])
    c = m.complaints[m.complaints["status"] == "upheld"]
    c_seller = pd.Categorical(c["seller_id"], categories=m.sellers["seller_id"]).codes
    upheld = np.sort(c_seller.astype(np.int64) * _BIG + _seconds(c["resolved_at"]))
    joined["strikes"] = _count_before(upheld, joined["seller_other"].to_numpy(),
                                      joined["t"].to_numpy())
    mate_strikes = joined.groupby("row")["strikes"].sum()
    out = pd.DataFrame(index=listings.index)
    out["ring__rarest_shared_phrase"] = rarest.reindex(np.arange(len(listings))).fillna(
        0).to_numpy()
    out["ring__mates_strikes"] = mate_strikes.reindex(np.arange(len(listings))).fillna(
        0).to_numpy()
    out["ring__mates"] = joined.groupby("row").size().reindex(np.arange(len(listings))).fillna(
        0).to_numpy()
    return out


def text_flags(m: Marketplace) -> pd.DataFrame:
    title = m.listings["title"]
    brand = m.listings["brand"]
    return pd.DataFrame({
        "text__non_ascii": title.str.contains(r"[^\x00-\x7f]", regex=True).astype(int),
        "text__spaced": title.str.contains(r"(?:\b\w[ .\-_*'] ?){3,}\w\b", regex=True).astype(
            int),
        "text__digit_in_word": title.str.contains(r"[A-Za-z][0-9][A-Za-z]", regex=True).astype(
            int),
        "text__brand_in_registry": brand.isin(m.brands["brand"]).astype(int),
        "text__brand_empty_or_generic": brand.isin(["", "Generic", "Unbranded"]).astype(int),
    }, index=m.listings.index)


def _lgbm(train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    model = lgb.LGBMClassifier(n_estimators=400, learning_rate=0.05, num_leaves=31,
                               min_child_samples=30, subsample=0.8, subsample_freq=1,
                               colsample_bytree=0.8, verbose=-1, random_state=0)
    model.fit(train, y)
    return np.asarray(model.predict_proba(test))[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    m, truth = generate_with_truth(SynthConfig(n_listings=args.listings, seed=args.seed))
    listings = m.listings
    cut = listings["created_at"].min() + (listings["created_at"].max()
                                          - listings["created_at"].min()) * 2 / 3
    train = (listings["created_at"] < cut).to_numpy()
    test = ~train
    y = listings["label"].to_numpy()
    text = listings["title"] + " | " + listings["description"]

    ratio = price_ratio(m)
    scores: dict[str, np.ndarray] = {
        "price_discount_rule": (1.0 - ratio.clip(upper=1.0)).fillna(0.0).to_numpy()[test],
    }
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True)
    x_text = vectorizer.fit_transform(text)
    lr = LogisticRegression(C=4.0, max_iter=2000)
    text_oof = cross_val_predict(lr, x_text[train], y[train], cv=3, method="predict_proba")[:, 1]
    lr.fit(x_text[train], y[train])
    text_test = lr.predict_proba(x_text[test])[:, 1]
    scores["tfidf_lr_text"] = text_test

    raw = pd.DataFrame({
        "price": listings["price"], "quantity": listings["quantity"],
        "image_count": listings["image_count"],
        **{c: listings[c].astype("category") for c in ("currency", "category", "ships_from")},
    })
    scores["lgbm_raw_columns"] = _lgbm(raw[train], y[train], raw[test])

    combined = pd.concat([
        raw, pd.DataFrame({"price__log_ratio": np.log(ratio)}, index=listings.index),
        text_flags(m), seller_history(m), ring_signals(m)], axis=1)
    combined["text__lr_score"] = 0.0
    combined.loc[train, "text__lr_score"] = text_oof
    combined.loc[test, "text__lr_score"] = text_test
    scores["lgbm_combined"] = _lgbm(combined[train], y[train], combined[test])
    no_ring = combined.drop(columns=[c for c in combined if c.startswith("ring__")])
    scores["lgbm_combined_without_ring"] = _lgbm(no_ring[train], y[train], no_ring[test])

    intent = truth["intent"].to_numpy()[test]
    fake = truth["counterfeit"].to_numpy()[test]
    result: dict[str, object] = {
        "listings": args.listings, "seed": args.seed,
        "test_listings": int(test.sum()), "test_positive_rate": float(y[test].mean()),
        "test_true_counterfeit_rate": float(fake.mean()),
        "models": {},
    }
    for name, score in scores.items():
        top = score >= np.quantile(score, 1 - fake.mean())  # flag as many as there are fakes
        result["models"][name] = {  # type: ignore[index]
            "pr_auc_labels": round(float(average_precision_score(y[test], score)), 4),
            "pr_auc_true_counterfeit": round(float(average_precision_score(fake, score)), 4),
            "recall_by_tactic": {
                tactic: round(float(top[intent == tactic].mean()), 3)
                for tactic in ("blatant", "obfuscated", "inspired", "stealth")},
            "flagged_lawful_by_intent": {
                kind: round(float(top[intent == kind].mean()), 4)
                for kind in ("used", "clearance", "accessory", "wholesale", "resale", "new")},
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
