"""Does dynamic int8 keep the shipped model's decisions? It is why raqib has no int8 path (issue 8).

    python benchmarks/int8_agreement.py [--model raqib-ar-v1] [--threads 2]

Scores the texts the project commits (the written challenge slices: threats, their contrasts, counter-speech,
insults, propaganda contrasts; and the bundled sample channel), i.e. the posts near the decision boundary that
matter, with fp32, bf16, and torch's per-channel dynamic int8 applied to several subsets of the encoder's
linear layers, and prints for each: seconds, decisions that differ from fp32 (the bar is ≤ 0.5%), and the
largest, 99th-percentile and mean |Δp|.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def layer(k: int) -> str:
    return f"encoder.layer.{k}."


SUBSETS: dict[str, Callable[[str], bool]] = {
    "all 72 linear layers": lambda n: True,
    "attention q/k/v only": lambda n: any(x in n for x in ("query", "key", "value")),
    "feed-forward in only": lambda n: "intermediate.dense" in n,
    "feed-forward in and out": lambda n: "intermediate.dense" in n or (n.endswith("output.dense")
                                                                      and "attention" not in n),
    "all of layers 0-5": lambda n: any(layer(k) in n for k in range(6)),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="raqib-ar-v1")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    from raqib.classifier import Classifier
    from raqib.readers import read_posts

    texts = [json.loads(line)["text"] for f in sorted(glob.glob(str(REPO / "evaluation/challenge/*.jsonl")))
             for line in open(f, encoding="utf-8")]
    texts += [p.text for p in read_posts(REPO / "tests/data/sample_channel/result.json") if hasattr(p, "text")]
    torch.set_num_threads(args.threads)

    def load(dtype: str) -> Classifier:
        return Classifier.from_dir(args.model, device="cpu", dtype=dtype, cache_size=0)  # type: ignore[arg-type]

    def timed(clf: Classifier) -> tuple[list, float]:
        clf.score_batch(texts[:8])  # warm-up
        start = time.perf_counter()
        return clf.score_batch(texts), time.perf_counter() - start

    fp32 = load("float32")
    base, base_s = timed(fp32)
    print(f"{len(texts)} texts, {args.threads} threads; fp32 {base_s:.1f} s")
    print(f"{'path':34s} {'seconds':>7s} {'vs fp32':>7s} {'decisions changed':>18s} {'max|dp|':>8s} "
          f"{'p99|dp|':>8s} {'mean|dp|':>8s}")

    def report(name: str, results: list, seconds: float) -> None:
        dp = np.array([abs(a.probabilities[lb] - b.probabilities[lb]) for a, b in zip(base, results, strict=True)
                       for lb in a.probabilities])
        changed = sum(a.flagged != b.flagged for a, b in zip(base, results, strict=True))
        print(f"{name:34s} {seconds:7.1f} {base_s / seconds:6.2f}x {changed:5d} ({changed / len(texts):6.2%}) "
              f"{dp.max():8.3f} {np.quantile(dp, 0.99):8.3f} {dp.mean():8.4f}")

    report("bf16", *timed(load("bfloat16")))
    for name, keep in SUBSETS.items():
        clf = copy.deepcopy(fp32)
        names = {n for n, m in clf.model.named_modules() if isinstance(m, torch.nn.Linear)
                 and "encoder.layer" in n and keep(n)}
        with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
            warnings.simplefilter("ignore")
            qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
            clf.model = torch.ao.quantization.quantize_dynamic(clf.model, dict.fromkeys(names, qconfig),
                                                               dtype=torch.qint8)
        report(f"int8 dynamic, {name}", *timed(clf))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
