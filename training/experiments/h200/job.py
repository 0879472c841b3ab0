"""One training job on the device: raqib.training.train on prebuilt rows, then the suite's probabilities."""
import json
import logging
import os
import sys
import time
from pathlib import Path

import torch

name, recipe, epochs, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(name)s %(message)s")
torch.set_num_threads(1)
from raqib.training import TrainingConfig, train  # noqa: E402

D = Path(os.environ.get("JOB_DATA", "/tmp/data"))


def rows(split: str) -> list[dict]:
    return [json.loads(line) for line in open(D / f"{recipe}_{split}.jsonl", encoding="utf-8")]


t0 = time.time()
cfg = TrainingConfig(base_model="/tmp/e5", epochs=epochs, seed=seed, max_minutes=None,
                     min_precision={"violent_call": 0.5, "propaganda": 0.9}, **extra)
clf = train(rows("train"), rows("validation"), f"/tmp/models/{name}", cfg, progress=True)
t1 = time.time()
texts = [json.loads(line) for line in open(D / "suite.jsonl", encoding="utf-8")]
scores = clf.score_batch(texts, batch_size=64)
probs = {lb: [float(s.probabilities.get(lb, 0.0)) for s in scores] for lb in clf.labels}
errors = sum(1 for s in scores if s.error)
Path(f"/tmp/probs/{name}.json").write_text(json.dumps({"probs": probs, "errors": errors,
                                                       "thresholds": clf.thresholds,
                                                       "train_s": t1 - t0, "score_s": time.time() - t1}))
print(f"DONE {name} train {t1 - t0:.0f}s score {time.time() - t1:.0f}s thresholds {clf.thresholds}", flush=True)
