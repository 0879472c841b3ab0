"""Where models catch the written threats, by form, and how well they separate threats from contrasts.

The challenge table reads each model at its own threshold. Two more views help to tell a recipe that teaches the
form of a threat from one that moves every score up: recall per form of the functional threats (imperative,
"must be killed", conditional, oath, call to others, ...), and the ROC AUC of the violent_call probability for
threats against the contrasts that share their words, plain and obfuscated, and against friendly futures,
which needs no threshold at all:

    python evaluation/threat_separation.py raqib-ar-v1 runs/r20e1 runs/r20e1s1

Each model prints one line of forms (caught/total at its threshold) and one line of AUCs.
"""

from __future__ import annotations

import argparse
from collections import Counter

from sklearn.metrics import roc_auc_score

import raqib
from raqib import challenge as ch

SLICES = ("violent_functional", "violent_obfuscated", "violent_contrasts", "contrasts_obfuscated", "friendly_futures")
PAIRS = (("violent_functional", "violent_contrasts"), ("violent_obfuscated", "contrasts_obfuscated"),
         ("violent_functional", "friendly_futures"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model directories or bundled names")
    args = p.parse_args()
    suite = {s.name: s.examples for s in ch.load_suite(None, names=SLICES)}
    forms = [e.note or "-" for e in suite["violent_functional"]]
    for name in args.models:
        clf = raqib.load(name)
        cut = clf.thresholds["violent_call"]
        prob = {s: [r.probabilities["violent_call"] for r in clf.score_batch([e.text for e in ex])]
                for s, ex in suite.items()}
        total, caught = Counter(forms), Counter(f for f, q in zip(forms, prob["violent_functional"]) if q >= cut)
        print(f"{name}: " + ", ".join(f"{f} {caught[f]}/{n}" for f, n in total.most_common()))
        aucs = [roc_auc_score([1] * len(prob[a]) + [0] * len(prob[b]), prob[a] + prob[b]) for a, b in PAIRS]
        print(f"{' ' * len(name)}  AUC threats vs contrasts {aucs[0]:.3f}, obfuscated {aucs[1]:.3f}; "
              f"threats vs friendly futures {aucs[2]:.3f}")


if __name__ == "__main__":
    main()
