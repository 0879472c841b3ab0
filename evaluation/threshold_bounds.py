"""Can a threshold alone meet the issue's bars? Each label's challenge targets at every threshold.

`raqib challenge` reads a model at the thresholds chosen on its validation split. This script scores the suite
once and moves each label's threshold over every score the suite gives, to tell a missed target that is a
matter of the threshold (some threshold passes all of the label's bars) from one that is a matter of the
ranking (none does). It chooses nothing: thresholds are still chosen on validation (`--min-precision`).

    python evaluation/threshold_bounds.py [models/raqib-ar-v1] [--data-dir ../shared/data]

Per label it prints the label's targets at the model's threshold, at the highest threshold where each recall
or F1 bar passes and at the threshold with the smallest total shortfall, then whether any passes them all.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import raqib
from raqib import challenge as ch
from raqib.combination import PrecomputedScorer


def deciding(scorer: PrecomputedScorer, suite: Sequence[ch.Slice],
             targets: Mapping[str, ch.Target]) -> dict[str, tuple[str, float]]:
    """Each target's deciding ``(where, value)`` at the scorer's thresholds."""
    checks = ch.check_targets(ch.run_suite(scorer, suite, n_worst=0, n_bootstrap=0), targets)
    return {c.target: tuple(targets[c.target].worst(c.values)[:2]) for c in checks if c.values}


def cell(target: ch.Target, where_value: tuple[str, float]) -> str:
    where, value = where_value
    shown = f"{value:.3f}" if target.metric == "f1" else f"{100 * value:.1f}%"
    return f"{'PASS' if target.passes(value) else 'MISS'} {shown} ({where})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", default=None, help="model directory or name (default: bundled)")
    p.add_argument("--data-dir", default="../shared/data")
    args = p.parse_args()
    clf = raqib.load(args.model)
    all_targets = ch.load_targets()
    suite = ch.load_suite(args.data_dir)
    texts = sorted({ex.text for sl in suite for ex in sl.examples})
    scored = PrecomputedScorer("model", texts, ch.ClassifierScorer(clf).probabilities(texts), clf.thresholds)
    for label in clf.labels:
        targets = {tid: t for tid, t in all_targets.items() if t.label == label}
        slices = [sl for sl in suite if set(sl.targets) & set(targets)]
        scores = {p for sl in slices for p in scored.probabilities([ex.text for ex in sl.examples])[label]}
        cuts = sorted(scores | {clf.thresholds[label]})
        sweep = {cut: deciding(scored.with_thresholds({**clf.thresholds, label: cut}), slices, targets)
                 for cut in cuts}
        gap = {cut: 100 * sum(targets[t].shortfall(v) for t, (_, v) in w.items()) for cut, w in sweep.items()}
        rows = [(clf.thresholds[label], "the model's")]
        for tid, t in targets.items():
            if t.op == ">=":
                ok = [c for c, w in sweep.items() if t.passes(w[tid][1])]
                rows.append((max(ok), f"highest where {tid} passes") if ok
                            else (None, f"{tid}: passes at none"))
        best = min(gap, key=gap.get)
        rows.append((best, "smallest total shortfall"))
        print(f"\n## {label}: {len(cuts)} thresholds over {sum(len(s) for s in slices)} texts\n")
        print("| threshold | which | " + " | ".join(targets) + " | shortfall (points) |")
        print("|---|---|" + "---|" * (len(targets) + 1))
        for cut, why in rows:
            if cut is None:
                print(f"| - | {why} |" + " |" * (len(targets) + 1))
                continue
            cells = " | ".join(cell(targets[tid], sweep[cut][tid]) for tid in targets)
            print(f"| {cut:.4f} | {why} | {cells} | {gap[cut]:.1f} |")
        passing = [c for c, g in gap.items() if g == 0]
        print(f"\n{len(passing)} of {len(cuts)} thresholds pass all {len(targets)} {label} bars"
              + (f" (from {min(passing):.4f} to {max(passing):.4f})." if passing else "."))


if __name__ == "__main__":
    main()
