"""The challenge table from probabilities scored on the device (one process, the suite built once).

usage: replay.py PROBS_JSON MODELS_DIR OUT_JSON
"""
import json
import sys
from pathlib import Path

from raqib import challenge as ch
from raqib.recipes import build_rows

probs_all = json.loads(Path(sys.argv[1]).read_text())
models = Path(sys.argv[2])
texts = [json.loads(line) for line in open(".gpu/data/suite.jsonl", encoding="utf-8")]
index = {t: i for i, t in enumerate(texts)}
rows, _ = build_rows("../shared/data")
suite = ch.load_suite("../shared/data", rows=rows)
targets = ch.load_targets()


class Replay:
    def __init__(self, name: str, entry: dict) -> None:
        self.name = name
        self.thresholds = json.loads((models / name / "config.json").read_text())["raqib"]["thresholds"]
        self.p = entry["probs"]

    def probabilities(self, batch):
        return {lb: [self.p[lb][index[t]] for t in batch] for lb in self.p}


results = {}
for name, entry in sorted(probs_all.items()):
    results[name] = ch.run_suite(Replay(name, entry), suite, n_bootstrap=200)
out = ch.results_to_json(results, targets=targets)
Path(sys.argv[3]).write_text(json.dumps(out, ensure_ascii=False))
print(ch.format_table(results, targets=targets)[-6000:])
