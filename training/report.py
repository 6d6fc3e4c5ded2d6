"""The evaluation report: metrics overall and by slice, plots, and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt  # without a display matplotlib picks its Agg backend itself
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve

from training.metrics import score_report

NEW_SELLER_COLUMN = "seller__listings_before"


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


def pr_curve_png(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (y, p) in curves.items():
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, label=name)
    ax.axhline(0.9, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test slice)",
           ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def calibration_png(y: np.ndarray, p: np.ndarray, raw: np.ndarray | None) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    for name, scores in (("calibrated", p), ("raw booster", raw)):
        if scores is not None:
            obs, pred = calibration_curve(y, scores, n_bins=12, strategy="quantile")
            ax.plot(pred, obs, marker="o", ms=3, label=name)
    ax.set(xlabel="mean predicted probability", ylabel="observed counterfeit rate",
           title="Calibration (test slice)")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def histogram_png(y: np.ndarray, p: np.ndarray) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    bins = np.linspace(0, 1, 41).tolist()
    for label, name in ((0, "legitimate"), (1, "counterfeit")):
        ax.hist(p[y == label], bins=bins, alpha=0.6, density=True, label=name)
    ax.set(xlabel="score", ylabel="density", title="Scores by label (test slice)", yscale="log")
    ax.legend(fontsize=8)
    return _png(fig)


def importance_png(importance: pd.Series, top: int = 25) -> bytes:
    top_features = importance.sort_values().tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(top_features) + 1))
    ax.barh(top_features.index, top_features.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def shap_png(contributions: np.ndarray, features: pd.DataFrame) -> bytes:
    import shap

    shap.summary_plot(contributions, features, show=False, max_display=20, plot_size=(7, 6))
    return _png(plt.gcf())


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
                 where: str, sample_rows: int = 2000) -> tuple[str, dict[str, bytes]]:
    """The HTML page and its plots for a scored, labelled slice (`model` is a ListingRiskModel)."""
    booster = model.booster  # type: ignore[attr-defined]
    importance = pd.Series(booster.feature_importance("gain"), index=booster.feature_name())
    sample = features.sample(min(len(features), sample_rows), random_state=0)
    contributions = booster.predict(sample.to_numpy(), pred_contrib=True)[:, :-1]
    images = {
        "pr_curve": pr_curve_png({"strikeout": (evaluation.y, evaluation.p)}),
        "calibration_curve": calibration_png(evaluation.y, evaluation.p, evaluation.raw),
        "score_histogram": histogram_png(evaluation.y, evaluation.p),
        "feature_importance": importance_png(importance),
        "shap_summary": shap_png(contributions, sample),
    }
    before = evaluation.before_calibration
    sections: list[tuple[str, pd.DataFrame | str]] = [
        ("Data", where),
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
