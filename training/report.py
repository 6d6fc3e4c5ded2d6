"""The evaluation report: metrics overall and by slice, plots, and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt  # without a display matplotlib picks its Agg backend itself
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from training.metrics import score_report

NEW_SELLER_COLUMN = "seller__listings_before"
RELIABILITY_BINS = 10
MIN_BIN_LISTINGS = 20  # fewer, and a bin's observed rate is mostly noise


@dataclass
class Evaluation:
    """Metrics of one scored, labelled slice, with the slices analysts ask about."""

    overall: dict[str, float]
    by_category: pd.DataFrame
    new_sellers: dict[str, float]
    y: np.ndarray
    p: np.ndarray
    capacity_share: float
    raw: np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def before_calibration(self) -> dict[str, float]:
        if self.raw is None:
            return {}
        return score_report(self.y, self.raw, self.capacity_share)

    def flat_metrics(self, prefix: str = "test") -> dict[str, float]:
        out = {f"{prefix}_{k}": v for k, v in self.overall.items()}
        before = self.before_calibration
        if before:
            out[f"{prefix}_ece_before_calibration"] = before["ece"]
            out[f"{prefix}_brier_before_calibration"] = before["brier"]
        out.update({f"{prefix}_new_sellers_{k}": v for k, v in self.new_sellers.items()})
        for category, row in self.by_category.iterrows():
            for k in ("pr_auc", "recall_at_90_precision", "ece"):
                out[f"{prefix}_category_{category}_{k}"] = float(row[k])
        out.update(self.extra)
        return {k: v for k, v in out.items() if np.isfinite(v)}


def evaluate(y: np.ndarray, p: np.ndarray, categories: pd.Series, new_seller: np.ndarray,
             capacity_share: float, raw: np.ndarray | None = None) -> Evaluation:
    y = np.asarray(y, dtype=int)
    by_category = pd.DataFrame({
        category: score_report(y[mask], p[mask], capacity_share)
        for category in sorted(categories.unique())
        if (mask := (categories == category).to_numpy()).any()
    }).T
    return Evaluation(
        overall=score_report(y, p, capacity_share),
        by_category=by_category,
        new_sellers=score_report(y[new_seller], p[new_seller], capacity_share),
        y=y, p=p, capacity_share=capacity_share, raw=raw,
    )


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def pr_curve_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], subject: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (y, p) in curves.items():
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, label=name)
    ax.axhline(0.9, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall ({subject})",
           ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def reliability_bins(y: np.ndarray, p: np.ndarray, n_bins: int = RELIABILITY_BINS) -> pd.DataFrame:
    """Listings, mean score and observed rate per equal-width score bin over [0, 1].

    Equal-width rather than equal-count bins: most listings score near 0, and equal-count
    bins would spend the plot there and average the whole 0.3-1.0 range into one point.
    Empty bins are left out.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    index = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": index, "score": p, "counterfeit": y})
    bins = frame.groupby("bin").agg(listings=("score", "size"), mean_score=("score", "mean"),
                                    observed_rate=("counterfeit", "mean"))
    bins.insert(0, "bin_low", bins.index / n_bins)
    return bins.reset_index(drop=True)


def calibration_png(y: np.ndarray, p: np.ndarray, raw: np.ndarray | None, subject: str) -> bytes:
    """Reliability plot: one point per score bin, its listing count beside it.

    Bins with fewer than `MIN_BIN_LISTINGS` listings are drawn hollow: their observed rate is
    too noisy to read as miscalibration.
    """
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    for name, scores in (("calibrated", p), ("raw booster", raw)):
        if scores is not None:
            _plot_reliability(ax, reliability_bins(y, scores), name)
    ax.set(xlabel=f"mean score in bin ({RELIABILITY_BINS} equal-width bins over 0-1)",
           ylabel="observed counterfeit rate in bin", xlim=(0, 1), ylim=(-0.02, 1.02),
           title=f"Calibration ({subject}); hollow: < {MIN_BIN_LISTINGS} listings")
    ax.text(0.98, 0.02, "numbers: listings in the bin", transform=ax.transAxes, ha="right",
            fontsize=7, color="grey")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def _plot_reliability(ax: plt.Axes, bins: pd.DataFrame, name: str) -> None:
    """Well-filled bins joined by a line, sparse ones hollow and apart, each with its count."""
    enough = bins["listings"] >= MIN_BIN_LISTINGS
    line, = ax.plot(bins.loc[enough, "mean_score"], bins.loc[enough, "observed_rate"],
                    marker="o", ms=4, label=name)
    colour = line.get_color()
    ax.plot(bins.loc[~enough, "mean_score"], bins.loc[~enough, "observed_rate"], ls="none",
            marker="o", ms=4, mfc="none", color=colour)
    for _, row in bins.iterrows():
        ax.annotate(f"{int(row['listings']):,}", (row["mean_score"], row["observed_rate"]),
                    textcoords="offset points", xytext=(4, -9), fontsize=6, color=colour)


def histogram_png(y: np.ndarray, p: np.ndarray, subject: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    bins = np.linspace(0, 1, 41).tolist()
    for label, name in ((0, "legitimate"), (1, "counterfeit")):
        ax.hist(p[y == label], bins=bins, alpha=0.6, density=True, label=name)
    ax.set(xlabel="score", ylabel="density", title=f"Scores by label ({subject})", yscale="log")
    ax.legend(fontsize=8)
    return _png(fig)


def importance_png(importance: pd.Series, top: int = 25) -> bytes:
    top_features = importance.sort_values().tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(top_features) + 1))
    ax.barh(top_features.index, top_features.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def shap_png(contributions: np.ndarray, features: pd.DataFrame, subject: str) -> bytes:
    import shap

    # a generator of its own: the plot's jitter is the same on every run, and shap does not
    # fall back on NumPy's global random state (which it warns is going away)
    shap.summary_plot(contributions, features, show=False, max_display=20, plot_size=(7, 6),
                      rng=np.random.default_rng(0))
    figure = plt.gcf()
    figure.axes[0].set_title(f"SHAP values, {len(features):,} sampled listings ({subject})")
    figure.axes[0].set_xlabel("contribution to the raw score (log-odds, before calibration)")
    return _png(figure)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(float_format=lambda v: f"{v:.4f}", border=0, classes="t")


def html_report(title: str, sections: list[tuple[str, pd.DataFrame | str]],
                images: dict[str, bytes]) -> str:
    """One page with everything inlined (plots as data URIs), to open or attach anywhere."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(_table(body) if isinstance(body, pd.DataFrame)
                     else f"<p>{html.escape(body)}</p>")
    parts.append("<h2>Plots</h2><div class='plots'>")
    for name, png in images.items():
        data = base64.b64encode(png).decode()
        parts.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(name)}</figcaption></figure>")
    parts.append("</div>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}"
             "table.t{border-collapse:collapse;font-size:13px}"
             "table.t td,table.t th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
             ".plots{display:flex;flex-wrap:wrap;gap:1em}"
             "figure{margin:0}img{max-width:560px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_images(folder: Path, images: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, png in images.items():
        path = folder / f"{name}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths


def build_report(model: object, evaluation: Evaluation, features: pd.DataFrame,
                 where: str, subject: str, sample_rows: int,
                 caveats: Sequence[str] = ()) -> tuple[str, dict[str, bytes]]:
    """The HTML page and its plots for a scored, labelled slice (`model` is a ListingRiskModel).

    `where` heads the page; `subject` names the slice in plot titles ("test slice"), since
    `strikeout evaluate` reports on any dataset; `sample_rows` are explained by SHAP;
    `caveats` (what makes the figures less than they look) follow `where`, each under its own
    heading, so that a reader meets them before the figures.
    """
    booster = model.booster  # type: ignore[attr-defined]
    importance = pd.Series(booster.feature_importance("gain"), index=booster.feature_name())
    sample = features.sample(min(len(features), sample_rows), random_state=0)
    contributions = booster.predict(sample.to_numpy(), pred_contrib=True)[:, :-1]
    images = {
        "pr_curve": pr_curve_png({"strikeout": (evaluation.y, evaluation.p)}, subject),
        "calibration_curve": calibration_png(evaluation.y, evaluation.p, evaluation.raw,
                                             subject),
        "score_histogram": histogram_png(evaluation.y, evaluation.p, subject),
        "feature_importance": importance_png(importance),
        "shap_summary": shap_png(contributions, sample, subject),
    }
    before = evaluation.before_calibration
    sections: list[tuple[str, pd.DataFrame | str]] = [
        ("Data", where),
        *(("Caveat", caveat) for caveat in caveats),
        ("Overall", pd.DataFrame({"value": evaluation.overall})),
    ]
    if before:
        sections.append(("Calibration before and after", pd.DataFrame({
            "raw booster": {"ece": before["ece"], "brier": before["brier"]},
            "calibrated": {"ece": evaluation.overall["ece"], "brier": evaluation.overall["brier"]},
        })))
    bands = model.bands  # type: ignore[attr-defined]
    sections += [
        ("Sellers with no history", pd.DataFrame({"value": evaluation.new_sellers})),
        ("By category", evaluation.by_category),
        ("Band thresholds", pd.DataFrame({"score at or above": {"review": bands.review,
                                                                "high": bands.high}})),
    ]
    return html_report("strikeout evaluation report", sections, images), images
