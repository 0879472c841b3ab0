"""Throughput: a plain transformers pipeline vs raqib's `score_batch`, on the same model and realistic posts.

    python benchmarks/throughput.py [--posts 5000] [--model raqib-ar-v1] [--data-dir ../shared/data]

Builds a channel-like workload from the shared data (short replies and tweets, mid-length comments, long
forwarded news articles, in the proportions below), then, in one run, times
  (a) `transformers.pipeline("text-classification", batch_size=32)` over the model's merged weights, fp32,
      truncating at the model's window length (what a user would write first), and
  (b) raqib `Classifier.score_batch` (length-sorted batches, per-batch padding, bf16 where the CPU has it,
      overlapping windows for long posts),
each in its own subprocess so that peak memory is measured per path. Prints posts/s, tokens/s, peak RSS,
the ratio b/a, and agreement of the two paths' decisions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

MIX = {"tweet": 0.62, "comment": 0.25, "article": 0.13}
"""Share of posts by kind: most channel posts are short; forwarded articles are long."""


def build_workload(data_dir: Path, n: int, seed: int = 0) -> list[str]:
    csv.field_size_limit(sys.maxsize)
    rng = random.Random(seed)
    pools: dict[str, list[str]] = {"tweet": [], "comment": [], "article": []}
    with open(data_dir / "osact2022" / "OSACT2022-sharedTask-train.tsv", encoding="utf-8") as fh:
        pools["tweet"] += [r[1].replace("<LF>", "\n") for r in csv.reader(fh, delimiter="\t") if len(r) > 1]
    with open(data_dir / "arsarcasm" / "ArSarcasm_train.csv", encoding="utf-8") as fh:
        pools["tweet"] += [r["tweet"] for r in csv.DictReader(fh)]
    with open(data_dir / "mubarak2017_abusive" / "AJ-train.tsv", encoding="utf-8") as fh:
        pools["comment"] += [r[1] for r in csv.reader(fh, delimiter="\t") if len(r) > 1 and len(r[1]) > 80]
    for name in ("news_terrorism_train.tsv", "news_general_train.tsv"):
        with open(data_dir / "ant_news" / name, encoding="utf-8") as fh:
            pools["article"] += [r["text"] for r in csv.DictReader(fh, delimiter="\t")]
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    return [rng.choice(pools[k]) for k in kinds]


def run_path(path: str, model: str, texts_file: Path, out_file: Path, batch_size: int) -> None:
    """One measured path, in this (fresh) process."""
    import torch

    from raqib.classifier import Classifier
    from raqib.normalise import normalise

    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    # no duplicate cache: the workload repeats some posts, and this compares the scoring paths themselves
    clf = Classifier.from_dir(model, device="cpu", dtype="float32" if path == "pipeline" else "auto", cache_size=0)
    if path == "pipeline":
        from transformers import pipeline

        pipe = pipeline("text-classification", model=clf.model, tokenizer=clf.tokenizer, device="cpu",
                        function_to_apply="none", top_k=None)
        norm = [normalise(t, version=clf.normaliser_version) for t in texts]
        pipe(norm[:8], batch_size=batch_size, truncation=True, max_length=clf.config.max_length)  # warm-up
        start = time.perf_counter()
        raw = pipe(norm, batch_size=batch_size, truncation=True, max_length=clf.config.max_length)
        seconds = time.perf_counter() - start
        probs = []
        for row in raw:
            logits = {d["label"]: d["score"] for d in row}
            probs.append(clf._calibrated([logits[lb] for lb in clf.labels]))
    else:
        clf.score_batch(texts[:8], batch_size=batch_size)  # warm-up
        start = time.perf_counter()
        results = clf.score_batch(texts, batch_size=batch_size)
        seconds = time.perf_counter() - start
        probs = [dict(r.probabilities) for r in results]
    n_tokens = sum(len(ids) for ids in clf.tokenizer([normalise(t) for t in texts])["input_ids"])
    flagged = [[lb for lb in clf.labels if p[lb] >= clf.thresholds[lb]] for p in probs]
    out_file.write_text(json.dumps({
        "path": path, "seconds": seconds, "posts": len(texts), "tokens": n_tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(), "dtype": str(next(clf.model.parameters()).dtype),
        "probs": probs, "flagged": flagged,
    }))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=5000)
    ap.add_argument("--model", default="raqib-ar-v1")
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--work", type=Path, default=Path("out/bench"))
    ap.add_argument("--_path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    texts_file = args.work / "texts.json"
    if args._path:
        run_path(args._path, args.model, texts_file, args.work / f"{args._path}.json", args.batch_size)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    texts = build_workload(args.data_dir, args.posts)
    texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    lengths = sorted(len(t) for t in texts)
    print(f"workload: {len(texts)} posts, characters p50 {lengths[len(lengths) // 2]}, "
          f"p90 {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}")
    stats = {}
    for path in ("pipeline", "raqib"):
        cmd = [sys.executable, __file__, "--_path", path, "--model", args.model, "--work", str(args.work),
               "--batch-size", str(args.batch_size)]
        subprocess.run(cmd, check=True, env=os.environ.copy())
        stats[path] = json.loads((args.work / f"{path}.json").read_text())
    for path, s in stats.items():
        print(f"{path:9s} {s['posts'] / s['seconds']:7.1f} posts/s  {s['tokens'] / s['seconds']:8.0f} tokens/s  "
              f"peak RSS {s['peak_rss_mb']:6.0f} MB  ({s['dtype']}, {s['threads']} threads, {s['seconds']:.1f} s)")
    a, b = stats["pipeline"], stats["raqib"]
    same = sum(x == y for x, y in zip(a["flagged"], b["flagged"], strict=True)) / len(texts)
    max_dp = max(abs(pa[lb] - pb[lb]) for pa, pb in zip(a["probs"], b["probs"], strict=True) for lb in pa)
    ratio = (b["posts"] / b["seconds"]) / (a["posts"] / a["seconds"])
    print(f"decisions identical: {same:.2%}  (pipeline truncates long posts; raqib scores every window)")
    print(f"max |dp|: {max_dp:.3f}")
    print(f"ratio raqib/pipeline = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
