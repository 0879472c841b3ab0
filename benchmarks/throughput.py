"""Throughput: a plain transformers pipeline vs raqib's scoring paths, on the same model and realistic posts.

    python benchmarks/throughput.py [--posts 5000] [--repeats 1] [--model raqib-ar-v1] [--data-dir ../shared/data]

Builds a channel-like workload from the shared data (short replies and tweets, mid-length comments, long
forwarded news articles, in the proportions of MIX) and a repost-heavy dump of the same size (a fifth as many
distinct posts, each reposted by a Zipf-like law, as forwards spread on Telegram). Then, in one run, times
  pipeline  `transformers.pipeline("text-classification", batch_size=32)` over the model's merged weights, fp32,
            truncating at the model's window length (what a user would write first),
  fp32      raqib `score_batch`, float32 (length-sorted batches, per-batch padding, windows for long posts),
  fastest   raqib `score_batch` with the dtype it picks itself (bf16 on CPUs with AVX-512 bf16),
  reposts   the fastest path on the repost-heavy dump, duplicate cache off (the baseline for the next line),
  dedup     the fastest path on the repost-heavy dump with duplicate-aware scoring on,
  ray       `raqib.distributed` on a local Ray cluster: the dump as a JSON Lines file read into a Ray dataset,
            scored by 2 classifier actors of 1 thread each, results collected in order on the driver; its time
            includes starting the actors and loading the model in each (the other paths load theirs untimed),
            its peak memory is the sum over the driver, the raylet and the workers,
each in its own subprocess (peak memory per path), the paths interleaved and repeated ``--repeats`` times
(the median run is reported). Prints posts/s, tokens/s, peak RSS, the share of the dtype's compute ceiling
(this machine's matrix-product peak at the encoder's shapes, measured in the same run before the paths), and
decision agreement with fp32; the last line is
``ratio_vs_pipeline=X fastest_posts_per_s=Y``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MIX = {"tweet": 0.62, "comment": 0.25, "article": 0.13}
"""Share of posts by kind: most channel posts are short; forwarded articles are long."""

PATHS = ("pipeline", "fp32", "fastest", "reposts", "dedup", "ray")
PEAK_SHAPE = (4096, 384, 1536)
"""Tokens x hidden x feed-forward width: the encoder's largest matrix product, where the peak is measured."""


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


def repost_workload(distinct: list[str], n: int, *, exponent: float = 1.1, seed: int = 1) -> list[str]:
    """``n`` posts drawn from ``distinct`` with Zipf-like weights: a few posts forwarded very often."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** exponent for rank in range(len(distinct))]
    return rng.choices(distinct, weights=weights, k=n)


def run_peak(work: Path, seconds: float = 2.0) -> None:
    """This machine's matrix-product GFLOP/s per dtype at PEAK_SHAPE on raqib's threads: the ceilings."""
    import torch

    from raqib.devices import cpu_threads

    torch.set_num_threads(cpu_threads())
    m, k, n = PEAK_SHAPE
    peaks = {}
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
            for _ in range(3):
                a @ b
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                a @ b
                count += 1
            peaks[str(dtype)] = 2 * m * k * n * count / (time.perf_counter() - start) / 1e9
    (work / "peak.json").write_text(json.dumps(peaks))


def run_path(path: str, model: str, work: Path, batch_size: int) -> None:
    """One measured path, in this (fresh) process."""
    import torch

    from raqib.classifier import Classifier
    from raqib.normalise import normalise

    if path == "ray":
        return run_ray(model, work, batch_size)
    if path == "peak":
        return run_peak(work)
    dump = "dump_reposts.json" if path in ("reposts", "dedup") else "dump.json"
    texts = json.loads((work / dump).read_text(encoding="utf-8"))
    clf = Classifier.from_dir(model, device="cpu", dtype="float32" if path in ("pipeline", "fp32") else "auto",
                              cache_size=65_536 if path == "dedup" else 0)
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
        clf.score_batch([f"نص للتحمية رقم {i}" for i in range(8)], batch_size=batch_size)  # warm-up, not in the dump
        start = time.perf_counter()
        results = clf.score_batch(texts, batch_size=batch_size)
        seconds = time.perf_counter() - start
        probs = [dict(r.probabilities) for r in results]
    tokens = [len(ids) for ids in clf.tokenizer([normalise(t) for t in texts])["input_ids"]]
    # the encoder's matrix products: 2 FLOPs per non-embedding weight per token
    encoder_params = sum(p.numel() for n, p in clf.model.named_parameters() if "embeddings" not in n)
    flagged = [[lb for lb in clf.labels if p[lb] >= clf.thresholds[lb]] for p in probs]
    (work / f"{path}.json").write_text(json.dumps({
        "path": path, "seconds": seconds, "posts": len(texts), "tokens": sum(tokens),
        "gflop": 2 * encoder_params * sum(tokens) / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(), "dtype": str(next(clf.model.parameters()).dtype),
        "cache": clf.cache_info() if path == "dedup" else None,
        "probs": probs, "flagged": flagged,
    }))


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        rss[int(entry.name)] = int(fields[21])
    pages, stack = 0, [root]
    while stack:
        pid = stack.pop()
        pages += rss.get(pid, 0)
        stack += children.get(pid, [])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_ray(model: str, work: Path, batch_size: int, workers: int = 2) -> None:
    """The Ray Data path, in this (fresh) process: a local cluster, ``workers`` actors of one thread each."""
    import threading

    import ray

    from raqib import distributed as rd
    from raqib import model_dir as md

    _, cfg = md.read_config(md.resolve(model))
    labels, thresholds = cfg.labels, cfg.thresholds
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:  # RSS of this process and everything it started (raylet, workers), every 0.2 s
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_rss_mb(os.getpid()))

    ready_dir = work / "ray_ready"
    ready_dir.mkdir(exist_ok=True)
    for stale in ready_dir.iterdir():
        stale.unlink()

    class TimedScorer(rd._Scorer):  # the library's actor, noting when its model is loaded (benchmark only)
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            (ready_dir / str(os.getpid())).write_text(repr(time.time()))

    rd._Scorer = TimedScorer
    threading.Thread(target=sample, daemon=True).start()
    start, wall_start = time.perf_counter(), time.time()
    ds = rd.score_dataset(rd.read_dataset(work / "dump.jsonl"), model, workers=workers, batch_size=batch_size)
    rows = [r for b in ds.iter_batches(batch_size=None, batch_format="pyarrow") for r in b.to_pylist()]
    seconds = time.perf_counter() - start
    ready = sorted(float(f.read_text()) - wall_start for f in ready_dir.iterdir())
    done.set()
    ray.shutdown()
    assert [r["row"] for r in rows] == list(range(len(rows))), "rows out of order"
    probs = [{lb: r[f"p_{lb}"] for lb in labels} for r in rows]
    fastest = json.loads((work / "fastest.json").read_text())
    (work / "ray.json").write_text(json.dumps({
        "path": "ray", "seconds": seconds, "posts": len(rows), "tokens": fastest["tokens"],
        "gflop": fastest["gflop"], "peak_rss_mb": peak[0], "threads": f"{workers}x1",
        "dtype": fastest["dtype"], "cache": None, "probs": probs, "actors_ready_s": ready,
        "flagged": [[lb for lb in labels if p[lb] >= thresholds[lb]] for p in probs],
    }))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=1, help="run every path this many times, interleaved")
    ap.add_argument("--model", default="raqib-ar-v1")
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--work", type=Path, default=Path("out/bench"))
    ap.add_argument("--_path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._path:
        run_path(args._path, args.model, args.work, args.batch_size)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    texts = build_workload(args.data_dir, args.posts)
    reposts = repost_workload(build_workload(args.data_dir, args.posts // 5, seed=2), args.posts)
    (args.work / "dump.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    (args.work / "dump_reposts.json").write_text(json.dumps(reposts, ensure_ascii=False), encoding="utf-8")
    with open(args.work / "dump.jsonl", "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n")
    lengths = sorted(len(t) for t in texts)
    print(f"workload: {len(texts)} posts, characters p50 {lengths[len(lengths) // 2]}, "
          f"p90 {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}; repost-heavy dump: {len(reposts)} posts, "
          f"{len(set(reposts))} distinct")

    def run(path: str) -> dict:
        cmd = [sys.executable, __file__, "--_path", path, "--model", args.model, "--work", str(args.work),
               "--batch-size", str(args.batch_size)]
        subprocess.run(cmd, check=True, env=os.environ.copy())
        return json.loads((args.work / f"{path}.json").read_text())

    peaks = run("peak")
    print("matrix-product peak (the ceilings): "
          + ", ".join(f"{dtype.split('.')[-1]} {gflops:.0f} GFLOP/s" for dtype, gflops in peaks.items()))
    runs: dict[str, list[dict]] = {p: [] for p in PATHS}
    for _ in range(args.repeats):
        for path in PATHS:
            runs[path].append(run(path))
    stats = {p: sorted(r, key=lambda s: s["seconds"])[len(r) // 2] for p, r in runs.items()}  # the median run

    def rate(p: str) -> float:
        return stats[p]["posts"] / stats[p]["seconds"]

    def agreement(p: str, ref: str) -> str:
        a, b = stats[p], stats[ref]
        same = sum(x == y for x, y in zip(a["flagged"], b["flagged"], strict=True)) / len(a["flagged"])
        dp = max(abs(pa[lb] - pb[lb]) for pa, pb in zip(a["probs"], b["probs"], strict=True) for lb in pa)
        return f"{same:7.2%} same decisions as {ref}, max |dp| {dp:.3f}"

    print(f"{'path':9s} {'posts/s':>8s} {'tokens/s':>9s} {'peak RSS':>9s} {'ceiling':>8s}  dtype, threads, seconds")
    for path, s in stats.items():
        peak = peaks.get(s["dtype"])
        ceiling = f"{s['gflop'] / s['seconds'] / peak:7.0%}" if peak and path != "dedup" else "      -"
        print(f"{path:9s} {rate(path):8.1f} {s['tokens'] / s['seconds']:9.0f} {s['peak_rss_mb']:6.0f} MB {ceiling}  "
              f"{s['dtype']}, {s['threads']}, {s['seconds']:.1f} s"
              + ("  (timings: " + ", ".join(f"{r['seconds']:.1f}" for r in runs[path]) + ")" if args.repeats > 1 else ""))
    print("agreement:")
    print(f"  pipeline {agreement('pipeline', 'fp32')}  (the pipeline truncates long posts; raqib scores every window)")
    print(f"  fastest  {agreement('fastest', 'fp32')}")
    print(f"  dedup    {agreement('dedup', 'reposts')}")
    print(f"  ray      {agreement('ray', 'fastest')}")
    cache = stats["dedup"]["cache"]
    print(f"duplicate cache: hit rate {cache['hits'] / max(1, cache['hits'] + cache['misses']):.1%}; "
          f"dedup/reposts = {rate('dedup') / rate('reposts'):.2f}x on the repost-heavy dump")
    print(f"fp32/pipeline = {rate('fp32') / rate('pipeline'):.2f}x; "
          f"fastest/fp32 = {rate('fastest') / rate('fp32'):.2f}x")
    ready = stats["ray"]["actors_ready_s"]
    steady = stats["ray"]["posts"] / (stats["ray"]["seconds"] - ready[0])
    print(f"ray/fastest = {rate('ray') / rate('fastest'):.2f}x with start-up (actors had their model loaded after "
          f"{', '.join(f'{r:.1f}' for r in ready)} s); from the first actor ready: {steady:.1f} posts/s = "
          f"{steady / rate('fastest'):.2f}x")
    print(f"ratio_vs_pipeline={rate('fastest') / rate('pipeline'):.2f} fastest_posts_per_s={rate('fastest'):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
