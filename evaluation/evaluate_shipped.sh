#!/usr/bin/env bash
# Reproduce the shipped model's card numbers: the held-out test split, scored through `raqib evaluate`,
# with the character n-gram TF-IDF baseline trained in the same run on the training split, and the
# challenge suite (per slice, model and baseline).
#   bash evaluation/evaluate_shipped.sh            (after `make install`; needs ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/raqib-ar-v1}
NAME=$(basename "$MODEL")
PY=${PY:-.venv/bin/python}
RAQIB=${RAQIB:-.venv/bin/raqib}
$PY evaluation/make_splits.py --data-dir ../shared/data --out out/splits
$RAQIB evaluate out/splits/test.jsonl --model "$MODEL" --group-column source \
  --baseline tfidf --train out/splits/train.jsonl --report "evaluation/$NAME"
$RAQIB challenge --model "$MODEL" --data-dir ../shared/data --out "evaluation/$NAME/challenge.md"
rm -f "evaluation/$NAME/report.html"   # the committed report is Markdown + PNG; the HTML is one command away
$PY evaluation/write_model_card.py "$MODEL" "evaluation/$NAME/metrics.json"
