"""The committed default classifier's card states what it was built from and how it scores (that it ranks real
prose above real crawl boilerplate is tests/quality/test_quality.py::test_default_model_loads_and_ranks)."""

from __future__ import annotations

import json

from curate.quality.model import DEFAULT_MODEL


def test_card_states_sources_sizes_parameters_and_dev_auc() -> None:
    card = json.loads(DEFAULT_MODEL.with_name(DEFAULT_MODEL.name + ".card.json").read_text())
    assert card["model"] == DEFAULT_MODEL.name and card["bytes"] == DEFAULT_MODEL.stat().st_size
    assert card["redistributable"] is True and card["recipe"] == "curate quality build-default"
    assert all(card["sources"][side] for side in ("positive", "negative"))
    assert card["counts"]["positive"] > 100 and card["counts"]["negative"] > 100
    assert card["parameters"]["wordNgrams"] == 2
    dev = card["metrics"]["dclm_human_labels_dev"]  # evaluation only: never trained on
    assert dev["n"] == 499 and dev["roc_auc"] >= 0.80

