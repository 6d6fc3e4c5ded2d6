"""The reviewers' page: server-rendered HTML (Jinja2) that `static/review.js` drives.

`GET /review` is the page itself; the script fetches the claimed batch, one case and the
queue stats as HTML fragments rendered here, so all markup lives in `templates/` and the
script only moves between cases, posts decisions and swaps fragments in.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from serving.keys import Principal
from serving.queue import CaseDetail, QueueStats
from serving.settings import LedgerSettings

PACKAGE_PATH = Path(__file__).resolve().parent
TEMPLATES_PATH = PACKAGE_PATH / "templates"
STATIC_PATH = PACKAGE_PATH / "static"
STATIC_FILES = {
    "review.js": (STATIC_PATH / "review.js", "text/javascript; charset=utf-8"),
    "review.css": (STATIC_PATH / "review.css", "text/css; charset=utf-8"),
}
SHORTCUTS = (("j", "next case"), ("k", "previous case"), ("c", "counterfeit"),
             ("n", "not counterfeit"), ("e", "escalate"), ("x", "select for bulk"),
             ("/", "write a note"))
DECISION_WORDS = {"counterfeit": "counterfeit", "not_counterfeit": "not counterfeit",
                  "escalate": "escalated"}


class ReviewPages:
    """Renders the page and its fragments."""

    def __init__(self, templates_path: Path = TEMPLATES_PATH) -> None:
        self.env = Environment(loader=FileSystemLoader(templates_path),
                               autoescape=select_autoescape(["html"]),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(usd=usd, money=money, age=age_text, when=when,
                                ratio=ratio_text, contribution=contribution)

    def page(self, settings: LedgerSettings) -> str:
        return self.env.get_template("review.html").render(
            shortcuts=SHORTCUTS, lease_minutes=settings.review_lease_minutes,
            batch=settings.review_batch)

    def batch(self, details: list[CaseDetail], moment: datetime) -> str:
        return self.env.get_template("review_batch.html").render(
            details=details, now=moment, words=DECISION_WORDS)

    def case(self, detail: CaseDetail, moment: datetime) -> str:
        return self.env.get_template("review_case.html").render(
            d=detail, now=moment, words=DECISION_WORDS)

    def stats(self, stats: QueueStats, principal: Principal) -> str:
        return self.env.get_template("review_stats.html").render(
            s=stats, who=principal.actor, bands=("high", "review", "low", "unscored"))


def usd(value: float | None) -> str:
    return "–" if value is None else f"${value:,.2f}"


def money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def age_text(seconds: float | None) -> str:
    """A duration the way a person says it: 45 s, 12 min, 3 h 5 min, 2 d 4 h, 301 days."""
    if seconds is None:
        return "–"
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    if d >= 7:
        return f"{d} days"
    return f"{d} d {h} h" if h else f"{d} d"


def when(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def ratio_text(price: dict[str, Any]) -> str:
    """'92% below reference' / '15% above reference' / 'no reference price'."""
    ratio = price.get("ratio")
    if ratio is None:
        return "no registered reference price"
    if ratio < 1:
        return f"{(1 - ratio) * 100:.0f}% below reference"
    if ratio > 1:
        return f"{(ratio - 1) * 100:.0f}% above reference"
    return "at the reference price"


def contribution(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}"
