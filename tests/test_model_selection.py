"""The model-selection rule of `evaluation/select_model.py` (a script, loaded by path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _select_model():
    spec = importlib.util.spec_from_file_location("select_model", REPO / "evaluation" / "select_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _candidate(family: str, seed: int, recall_short: int, flag_over: int) -> dict:
    """One candidate on two bars, threat recall and contrasts flagged, by its distance to each in points."""
    targets = {
        "recall": {"passed": recall_short == 0, "worst": 0.90 - recall_short / 100, "ci": None,
                   "shortfall": recall_short / 100},
        "flagged": {"passed": flag_over == 0, "worst": 0.03 + flag_over / 100, "ci": None,
                    "shortfall": flag_over / 100},
    }
    return {"family": family, "seed": seed, "reference": False, "targets": targets,
            "shortfall_points": recall_short + flag_over}


def _select(*candidates: dict) -> dict:
    summary = {f"{c['family']} s{c['seed']}": c for c in candidates}
    return _select_model().selection(summary, {"recall": None, "flagged": None})


def test_selection_ranks_by_shortfall_so_flagging_nothing_does_not_win():
    """A model that flags nothing passes the false-flag bar; one that catches threats and flags a contrast or
    two too many passes none. The second is nearer the bars, and the rule picks it."""
    sel = _select(_candidate("silent", 0, recall_short=80, flag_over=0),
                  _candidate("transformer", 0, recall_short=30, flag_over=1),
                  _candidate("transformer", 1, recall_short=40, flag_over=2))
    assert sel["winner"] == "transformer"
    assert [r["family"] for r in sel["ranking"]] == ["transformer", "silent"]
    assert sel["ranking"][0]["shortfall_mean"] == (31 + 42) / 2
    assert sel["ranking"][1]["passed_mean"] > sel["ranking"][0]["passed_mean"]  # more passes, still second


def test_selection_breaks_shortfall_ties_by_targets_passed():
    sel = _select(_candidate("b", 0, recall_short=2, flag_over=3),
                  _candidate("a", 0, recall_short=5, flag_over=0))
    assert sel["winner"] == "a"
