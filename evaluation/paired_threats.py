"""Two models on the same written threats and contrasts, paired: the difference in flag rate, with its interval.

A challenge table gives each model's rate with its own interval; two such intervals overlap long before a
difference between the models is in doubt, because both models are scored on the same posts. This script
resamples the posts, not the models:

    python evaluation/paired_threats.py runs/r17 raqib-ar-v1

The obfuscated slices hold several forms of each post (about eleven per threat), so their intervals (resampled
by form) are too narrow; read the functional and plain-contrast lines for the claim.
"""

from __future__ import annotations

import argparse

import numpy as np

import raqib
from raqib import challenge as ch
from select_model import paired_bootstrap  # beside this script

SLICES = ("violent_functional", "violent_obfuscated", "violent_contrasts", "contrasts_obfuscated")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_a", help="model directory or bundled name (the reference)")
    p.add_argument("model_b", help="model directory or bundled name (compared with the reference)")
    p.add_argument("--resamples", type=int, default=2000)
    args = p.parse_args()
    slices = {s.name: s for s in ch.load_suite(None, names=SLICES)}
    models = {name: raqib.load(name) for name in (args.model_a, args.model_b)}
    rng = np.random.default_rng(0)
    for name in SLICES:
        texts = [e.text for e in slices[name].examples]
        flags = []
        for clf in models.values():
            cut = clf.thresholds["violent_call"]
            flags.append(np.array([r.probabilities["violent_call"] >= cut for r in clf.score_batch(texts)], float))
        diff, lo, hi = paired_bootstrap(flags[1], flags[0], args.resamples, rng)
        print(f"{name:22s} n={len(texts):5d}  flagged {flags[0].sum():4.0f} -> {flags[1].sum():4.0f}  "
              f"difference {100 * diff:+.1f} points (95% {100 * lo:+.1f} to {100 * hi:+.1f})")


if __name__ == "__main__":
    main()
