"""Regenerate a model directory's model card (MODEL_CARD.md) with the numbers of its committed evaluation report.

    python evaluation/write_model_card.py models/raqib-ar-v1 evaluation/raqib-ar-v1/metrics.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from raqib import model_card
from raqib.evaluation import EvaluationResult
from raqib.reports import render_summary_markdown


def main() -> None:
    model_dir, metrics = Path(sys.argv[1]), Path(sys.argv[2])
    result = EvaluationResult.from_json(metrics.read_text(encoding="utf-8"))
    section = (
        "## Evaluation on the held-out test split\n\n"
        f"Produced by `evaluation/evaluate_shipped.sh` through `raqib evaluate`; full report with plots, "
        f"threshold sweeps, calibration and per-source tables: `evaluation/{model_dir.name}/report.md`.\n\n"
        + render_summary_markdown(result, level=3, groups=True)
    )
    extra = Path(metrics.parent / "challenge.md")
    if extra.is_file():
        # challenge.md carries its own "## Challenge suite" heading
        section += "\n\n" + extra.read_text(encoding="utf-8")
    print(model_card.write(model_dir, metrics_md=section))


if __name__ == "__main__":
    main()
