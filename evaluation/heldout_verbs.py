"""The challenge suite's shortfall counted only on threats whose verbs no run's templates ever used.

Run 12 (shipped until run 15) was trained on templates that shared six verbs with the suite's threats
(training/README.md, "Run 14"); 50 of the 161 functional threats use one of them, so its suite recall partly
measures recall of its own templates. This script compares models on the other 111 threats and their
obfuscated forms, and takes every other target from each model's `raqib challenge` JSON:

    python evaluation/heldout_verbs.py models/raqib-ar-v1=evaluation/raqib-ar-v1/challenge.json \
        runs/r15=runs/r15-challenge.json

It prints, per model: recall on the held-out threats (per dialect, worst group), obfuscated recall on their
forms, and the shortfall to the bars with those two values in place of the suite's.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict

import raqib
from raqib import challenge as ch
from raqib.normalise import normalise

SHARED_VERBS = re.compile("موت|كسر|خلص|صف[يى]|ولع|نزف")
"""The roots run 12's templates shared with the suite (the list tests/test_challenge.py keeps out of them)."""


def shortfall(checks: dict[str, float], targets: dict[str, ch.Target]) -> float:
    """Sum over the targets of how far the worst value is from its bar, in points."""
    total = 0.0
    for name, value in checks.items():
        t = targets[name]
        total += max(0.0, t.bound - value) if t.op == ">=" else max(0.0, value - t.bound)
    return 100 * total


def worst_values(challenge_json: str, system: str | None = None) -> dict[str, float]:
    """Each target's worst value (over slices and groups) from a `raqib challenge` JSON."""
    data = json.loads(open(challenge_json, encoding="utf-8").read())
    name = system or next(s for s in data["systems"] if not s.startswith("tfidf"))
    out = {}
    for t in data["systems"][name]["targets"]:
        values = [v[1] for v in t["values"]]
        if values:
            op = data["targets"][t["target"]]["op"]
            out[t["target"]] = min(values) if op == ">=" else max(values)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", metavar="MODEL=CHALLENGE_JSON")
    args = ap.parse_args()
    targets = ch.load_targets()
    suite = {s.name: s for s in ch.load_suite(None, names=["violent_functional", "violent_obfuscated"])}
    threats, obfuscated = suite["violent_functional"].examples, suite["violent_obfuscated"].examples
    shared = {e.id for e in threats if SHARED_VERBS.search(normalise(e.text))}
    print(f"{len(threats) - len(shared)} of {len(threats)} threats use none of the shared verbs")
    for spec in args.models:
        model, _, report = spec.partition("=")
        clf = raqib.load(model)
        flagged = {e.id: "violent_call" in s.flagged
                   for exs in (threats, obfuscated) for e, s in zip(exs, clf.score_batch([e.text for e in exs]))}
        by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for e in threats:
            if e.id not in shared:
                by_group[e.group or "-"][0] += flagged[e.id]
                by_group[e.group or "-"][1] += 1
        forms = [flagged[e.id] for e in obfuscated if e.id.split("~")[0] not in shared]
        worst = min(k / n for k, n in by_group.values())
        checks = worst_values(report) | {"violent_functional_recall": worst,
                                        "violent_obfuscated_recall": sum(forms) / len(forms)}
        print(f"{model}: threats {sum(k for k, _ in by_group.values())}/{sum(n for _, n in by_group.values())} "
              f"({', '.join(f'{g} {k}/{n}' for g, (k, n) in sorted(by_group.items()))}; worst {100 * worst:.1f}%), "
              f"obfuscated {sum(forms)}/{len(forms)} ({100 * sum(forms) / len(forms):.1f}%), "
              f"held-out shortfall {shortfall(checks, targets):.1f} (whole suite {shortfall(worst_values(report), targets):.1f})")


if __name__ == "__main__":
    main()
