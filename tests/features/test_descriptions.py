"""Every feature the pipeline makes has readable words, and values are shown in them."""

from __future__ import annotations

from features.descriptions import TEMPLATES, describe


def test_templates_render_values() -> None:
    assert describe("price__ratio_to_reference", 0.12) == (
        "price is 12% of the brand's reference price")
    assert describe("seller__upheld_strikes_before", 2.0) == "2 earlier strikes"


def test_unknown_feature_falls_back_to_its_name_and_value() -> None:
    assert describe("seller__something_new", 3.5) == "seller: something new = 3.5"


def test_every_template_formats() -> None:
    for name in TEMPLATES:
        assert describe(name, 0.5)
