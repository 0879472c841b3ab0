#!/usr/bin/env bash
# Render both HTML reports headlessly and screenshot them, to check by eye that Arabic reads right-to-left
# with joined letters, that hostile post text shows as inert text, and that the pages load nothing remote.
#
#   evaluation/render_check.sh [OUT_DIR]          (default OUT_DIR: evaluation/screenshots)
#   RAQIB_MODEL=models/raqib-ar-v1 evaluation/render_check.sh   # evaluate a real model instead of the stand-in
#   KEEP_REPORTS=1 evaluation/render_check.sh /tmp/shots          # also keep the rendered report folders
#
# Needs Debian's chromium and an Arabic font:  apt-get install -y chromium fonts-noto-core fonts-hosny-amiri
# Not part of pytest (CI machines have no chromium). Then look at the PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(realpath -m "${1:-evaluation/screenshots}")"
PY="${PYTHON:-.venv/bin/python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
export PYTHONPATH=src

CHROME="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [[ -z "$CHROME" ]]; then
  echo "render_check: chromium not found; apt-get install -y chromium fonts-noto-core" >&2
  exit 1
fi
fc-list | grep -iE "Noto (Naskh|Sans) Arabic|Amiri" >/dev/null \
  || echo "render_check: warning: no Arabic font (fonts-noto-core / fonts-hosny-amiri); letters may not join" >&2

# 1. The evaluation report: a real model if RAQIB_MODEL is set, else a keyword stand-in (same report code).
if [[ -n "${RAQIB_MODEL:-}" ]]; then
  "$PY" -m raqib evaluate tests/data/eval_small.jsonl --report "$WORK/eval" --model "$RAQIB_MODEL" \
    --group-column dialect --prediction-column llm:violent_call=llm_violent_call \
    --prediction-column llm:propaganda=llm_propaganda --bootstrap 200
else
  "$PY" - "$WORK/eval" <<'PYEOF'
import sys
import numpy as np
from raqib.evaluation import evaluate, evaluate_baseline
from raqib.labelled import read_labelled
from raqib.reports import write_evaluation_report

data = read_labelled("tests/data/eval_small.jsonl", group_column="dialect",
                     prediction_columns={"llm": {"violent_call": "llm_violent_call", "propaganda": "llm_propaganda"}})
words = {"violent_call": ("اقتل", "احرقوا", "اذبحوا", "سكين", "script"), "propaganda": ("الخلافة", "باقية", "بايعنا", "جنود")}
rng = np.random.default_rng(0)
probs = {lb: [float(np.clip(0.15 + 0.3 * sum(w in t for w in ws) + rng.normal(0, 0.12), 0.01, 0.99))
              for t in data.texts] for lb, ws in words.items()}
result = evaluate(probs, data.gold, thresholds={"violent_call": 0.5, "propaganda": 0.5}, texts=data.texts, ids=data.ids,
                  groups=data.groups, n_bootstrap=200, name="keyword-stand-in",
                  threshold_rules=dict.fromkeys(words, "0.5 (render check stand-in, not a model)"),
                  provenance={"dataset_path": data.path, "dataset_sha256": data.sha256})
llm = evaluate(data.predictions["llm"], data.gold, thresholds={"violent_call": 0.5, "propaganda": 0.5},
               n_bootstrap=200, name="llm")
result = result.with_comparison(llm, kind="predictions", description="precomputed predictions read from the data file")
base, description = evaluate_baseline(data, data, labels=("violent_call", "propaganda"), normaliser_version=None,
                                      n_bootstrap=200)
result = result.with_comparison(base, kind="baseline", description=description + " (render check: trained on the test file)")
write_evaluation_report(result, sys.argv[1])
PYEOF
fi

# 2. The transparency report, with example texts joined from a posts file (hostile ones included).
"$PY" - "$WORK/posts.jsonl" <<'PYEOF'
import json, sys
texts = {"1": "الدولة الاسلامية باقية وتتمدد", "2": "جنود الخلافة في كل مكان", "205": "اقتلوهم يا شباب",
         "204": "<script>alert(1)</script><img src=x onerror=alert(2)> javascript:alert(3) \u202eاقتلوهم\u202c"}
with open(sys.argv[1], "w", encoding="utf-8") as fh:
    for i in list(range(1, 11)) + list(range(100, 113)) + list(range(200, 206)) + [300]:
        channel = "قناة الخلافة" if i <= 10 else "news_daily" if i < 200 else "<script>alert(1)</script>\u202eevil"
        fh.write(json.dumps({"id": str(i), "channel": None if i == 300 else channel,
                             "text": texts.get(str(i), f"منشور رقم {i} عن المباراة والطقس")}, ensure_ascii=False) + "\n")
PYEOF
"$PY" -m raqib report tests/data/scores_small.jsonl --report "$WORK/transparency" --posts "$WORK/posts.jsonl" >/dev/null

# 3. Screenshots: the whole page in one tall shot, then cut into 1200x2400 tiles (name_1.png, name_2.png...).
#    The profile is thrown away; no network is needed (the pages load nothing).
rm -f "$OUT"/eval_report*.png "$OUT"/transparency_report*.png
for name in eval transparency; do
  "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --no-first-run --hide-scrollbars --user-data-dir="$WORK/profile" \
    --screenshot="$WORK/${name}_full.png" --window-size=1200,16000 "file://$WORK/$name/report.html" 2>/dev/null
  "$PY" - "$WORK/${name}_full.png" "$OUT/${name}_report" <<'PYEOF'
import sys
from PIL import Image, ImageChops
full = Image.open(sys.argv[1]).convert("RGB")
box = ImageChops.difference(full, Image.new("RGB", full.size, (255, 255, 255))).getbbox()
height = min(full.height, (box[3] + 40) if box else full.height)
for k, top in enumerate(range(0, height, 2400), start=1):
    full.crop((0, top, 1200, min(top + 2400, height))).save(f"{sys.argv[2]}_{k}.png", optimize=True)
PYEOF
done
if [[ -n "${KEEP_REPORTS:-}" ]]; then cp -r "$WORK/eval" "$WORK/transparency" "$OUT/"; fi  # to open them yourself
ls -1 "$OUT"/*.png
echo "render_check: now look at the PNGs: Arabic right-to-left and joined, hostile text inert."
