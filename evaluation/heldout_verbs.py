"""The challenge suite's shortfall counted only on threats whose verbs no run's templates ever used.

Run 12 (shipped until run 17) was trained on templates that shared six verbs with the suite's threats
(`raqib.synthetic.SUITE_VERBS`; training/README.md, "Run 14"); 50 of the 161 functional threats use one of
them, so its suite recall partly measures recall of its own templates. This script compares models on the
other 111 threats and their obfuscated forms, and takes every other target from each model's
`raqib challenge` JSON:

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
from pathlib import Path

import raqib
from raqib import challenge as ch
from raqib.normalise import normalise
from raqib.synthetic import SUITE_VERBS


def worst_values(challenge_json: Path, targets: dict[str, ch.Target]) -> dict[str, float]:
    """Each target's worst value (over slices and groups) for the model of a `raqib challenge` JSON."""
    data = json.loads(challenge_json.read_text(encoding="utf-8"))
    model = next(s for s in data["systems"] if not s.startswith("tfidf"))
    return {t["target"]: targets[t["target"]].worst(t["values"])[1]
            for t in data["systems"][model]["targets"] if t["values"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", metavar="MODEL=CHALLENGE_JSON")
    args = ap.parse_args()
    targets = ch.load_targets()
    suite = {s.name: s for s in ch.load_suite(None, names=["violent_functional", "violent_obfuscated"])}
    threats, obfuscated = suite["violent_functional"].examples, suite["violent_obfuscated"].examples
    pattern = re.compile("|".join(SUITE_VERBS))
    shared = {e.id for e in threats if pattern.search(normalise(e.text))}
    print(f"{len(threats) - len(shared)} of {len(threats)} threats use none of the shared verbs")
    for spec in args.models:
        model, _, report = spec.partition("=")
        clf = raqib.load(model)
        examples = [*threats, *obfuscated]
        flagged = {e.id: "violent_call" in s.flagged
                   for e, s in zip(examples, clf.score_batch([e.text for e in examples]), strict=True)}
        by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for e in threats:
            if e.id not in shared:
                by_group[e.group or "-"][0] += flagged[e.id]
                by_group[e.group or "-"][1] += 1
        forms = [flagged[e.id] for e in obfuscated if e.id.split("~")[0] not in shared]
        worst = min(k / n for k, n in by_group.values())
        suite_values = worst_values(Path(report), targets)
        held_out = suite_values | {"violent_functional_recall": worst,
                                   "violent_obfuscated_recall": sum(forms) / len(forms)}
        caught, total = (sum(v[i] for v in by_group.values()) for i in (0, 1))
        groups = ", ".join(f"{g} {k}/{n}" for g, (k, n) in sorted(by_group.items()))
        print(f"{model}: threats {caught}/{total} ({groups}; worst {100 * worst:.1f}%), "
              f"obfuscated {sum(forms)}/{len(forms)} ({100 * sum(forms) / len(forms):.1f}%), "
              f"held-out shortfall {100 * sum(targets[t].shortfall(v) for t, v in held_out.items()):.1f} "
              f"(whole suite {100 * sum(targets[t].shortfall(v) for t, v in suite_values.items()):.1f})")


if __name__ == "__main__":
    main()
