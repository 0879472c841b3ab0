"""Two models' scoring speed on the same real posts, in one run, interleaved: does a new model cost more?

    python benchmarks/two_models.py runs/r17 raqib-ar-v1 [--posts 1000] [--repeats 2]

Posts are the recipe's test split (shuffled, seed 0), scored by `score_batch` with the duplicate cache off and
each model's own dtype choice; prints posts/s per pass, the best pass, and the ratio B / A.
"""

from __future__ import annotations

import argparse
import random
import time

import raqib
from raqib import recipes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_a")
    p.add_argument("model_b")
    p.add_argument("--posts", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data-dir", default="../shared/data")
    args = p.parse_args()
    rows, _ = recipes.build_rows(args.data_dir)
    posts = [r["text"] for r in rows if r["split"] == "test"]
    random.Random(0).shuffle(posts)
    posts = posts[: args.posts]
    models = {name: raqib.Classifier.from_dir(name, cache_size=0) for name in (args.model_a, args.model_b)}
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, clf in models.items():
            t0 = time.perf_counter()
            clf.score_batch(posts)
            rates[name].append(len(posts) / (time.perf_counter() - t0))
    for name, r in rates.items():
        print(f"{name:24s} best {max(r):7.1f} posts/s  passes {[round(x, 1) for x in r]}")
    print(f"ratio {args.model_b} / {args.model_a} = {max(rates[args.model_b]) / max(rates[args.model_a]):.3f}")


if __name__ == "__main__":
    main()
