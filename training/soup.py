"""Average several training runs into one model (a "model soup"), then calibrate it on validation.

Seeds of one recipe differ by about 6 points of challenge shortfall (training/README.md, "Seeds and epochs"),
more than most recipe changes. Averaging their weights is meant to keep what the seeds share and cancel what
each learnt by chance, at no cost at inference: the LoRA deltas are averaged exactly, as one adapter of rank
n x r (A stacked, B stacked and divided by n, alpha scaled so that alpha / r is unchanged), and merged into the
base weights at load time like any adapter; the pooler and head are averaged. Calibration and thresholds are
then chosen on the recipe's validation split by the rule `make train` uses.

    python training/soup.py runs/r17 runs/r17s1 -o runs/soup17 --data-dir ../shared/data \\
        --min-precision violent_call=0.5 --min-precision propaganda=0.9

A member may itself be a soup (models/raqib-ar-v1, say): it counts as the runs it averages.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from raqib import model_dir as md
from raqib import LABELS, recipes
from raqib.cli.score import parse_threshold, resolve_thresholds
from raqib.evaluation import ThresholdChoice


def soup_state(states: list[dict], adapters: list[dict], weights: list[int] | None = None) -> tuple[dict, dict]:
    """The averaged compact state and its adapter entry (rank and alpha times the number of runs).

    `weights` counts the runs each member holds: a member that is itself a soup of w runs counts w times, so a
    soup of the shipped soup and new runs is exactly the soup of all their runs (whose directories may be gone).
    """
    import torch

    weights = weights or [1] * len(states)
    total = sum(weights)
    per_run = [{**a, "r": a["r"] // w, "alpha": a["alpha"] / w} for a, w in zip(adapters, weights, strict=True)]
    if (any(set(s) != set(states[0]) for s in states) or any(a != per_run[0] for a in per_run)
            or any(a["r"] % w for a, w in zip(adapters, weights, strict=True))):
        raise ValueError("the runs do not share one adapter layout (targets, rank, alpha) and tensor names")
    out = {}
    for key in states[0]:
        if key.endswith(".lora_A"):
            out[key] = torch.cat([s[key].float() for s in states], dim=0)
        elif key.endswith(".lora_B"):  # a soup's B is already divided by its own count
            out[key] = torch.cat([s[key].float() * w for s, w in zip(states, weights, strict=True)], dim=1) / total
        else:
            out[key] = sum(s[key].float() * w for s, w in zip(states, weights, strict=True)) / total
    return out, {**per_run[0], "r": per_run[0]["r"] * total, "alpha": per_run[0]["alpha"] * total}


# Settings that may differ between runs: by design per run (the seed, and the epochs, which change how far
# a run moves from the same start, not the shape of what it learns), or only how long a run took (its time
# budget and thread count), so long as no run was cut short by its budget. The per-run ones are recorded.
PER_RUN = ("seed", "epochs")
MAY_DIFFER = frozenset({*PER_RUN, "max_minutes", "threads"})


def runs_of(run: Path, member: dict) -> list[dict]:
    """The record of each run a member holds: itself, or the runs of a member soup, completed from the soup's shared
    config where its record predates a per-run setting."""
    config = member["config"]
    if "soup_of" in member:
        return [entry | {k: config[k] for k in PER_RUN if k in config and k not in entry}
                for entry in member["soup_of"]]
    return [{"run": str(run), "recipe": member.get("data", {}).get("recipe"), **{k: config.get(k) for k in PER_RUN},
             **{k: member.get(k) for k in ("steps", "train_minutes", "device", "precision", "final_loss")}}]


def check_runs(runs: list[Path], members: list[dict]) -> None:
    """Refuse runs that were not trained alike: another setting, or a run its time budget stopped early."""
    from dataclasses import MISSING, fields

    from raqib.training import TrainingConfig

    # a setting added after a run was trained is absent from its record: it ran with the default
    defaults = {f.name: f.default for f in fields(TrainingConfig) if f.default is not MISSING}
    configs = [defaults | m["config"] for m in members]
    first = configs[0]
    differ = sorted({k for c in configs for k in {*c, *first} - MAY_DIFFER if c.get(k) != first.get(k)})
    if differ:
        raise SystemExit(f"soup.py: the runs were trained with different settings ({', '.join(differ)})")
    cut = [str(run) for run, m in zip(runs, members, strict=True) if m.get("stopped_early")]
    if cut:
        raise SystemExit(f"soup.py: these runs stopped at their --max-minutes before their planned steps: "
                         f"{', '.join(cut)}")


def main() -> None:
    from dataclasses import asdict

    from safetensors.torch import load_file, save_file

    from raqib.backbone import sha256_file
    from raqib.classifier import Classifier
    from raqib.training import calibrate

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path,
                   help="model directories trained with the same settings (other seeds, epochs, or recipes "
                        "that share a validation split); the first run's data counts go to the record")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--recipe", default="default", choices=list(recipes.RECIPES),
                   help="the recipe whose validation split calibrates the soup (default: %(default)s)")
    p.add_argument("--min-precision", action="append", type=parse_threshold, metavar="[LABEL=]VALUE")
    args = p.parse_args()

    members = [json.loads((run / "training.json").read_text(encoding="utf-8")) for run in args.runs]
    check_runs(args.runs, members)
    configs = [md.read_config(run) for run in args.runs]
    states = [load_file(run / md.WEIGHTS_FILE) for run in args.runs]
    member_runs = [runs_of(run, m) for run, m in zip(args.runs, members, strict=True)]
    state, adapter = soup_state(states, [cfg.adapter for _, cfg in configs], [len(r) for r in member_runs])
    hf_config, cfg = configs[0]
    cfg.adapter = adapter
    args.output.mkdir(parents=True, exist_ok=True)
    save_file(state, args.output / md.WEIGHTS_FILE)
    cfg.weights_sha256 = sha256_file(args.output / md.WEIGHTS_FILE)
    md.write_config(args.output, hf_config, cfg)

    rows, _ = recipes.build_rows(args.data_dir, sources=recipes.RECIPES[args.recipe])
    clf = Classifier.from_dir(args.output, dtype="float32")
    floors = resolve_thresholds(args.min_precision, LABELS, option="--min-precision")
    choices: dict[str, ThresholdChoice] = calibrate(
        clf, [r for r in rows if r["split"] == "validation"], min_precision=floors)
    clf.save(args.output)
    record = {
        "soup_of": [entry for runs in member_runs for entry in runs],
        # shared by the runs
        "config": {k: v for k, v in members[0]["config"].items() if k not in MAY_DIFFER},
        "adapter": adapter,
        "thresholds": {lb: asdict(c) | {"trials": None} for lb, c in choices.items()},
        "calibration": {lb: asdict(clf.config.calibration[lb]) for lb in clf.labels},
        "data": members[0].get("data", {}),  # the first run's recipe (list the one with most sources first)
        "calibration_recipe": args.recipe,
    }
    n_runs = len(record["soup_of"])
    for name, counts in record["data"].get("sources", {}).items():
        if "role" not in counts:
            continue
        used = sum(name in {s.name for s in recipes.RECIPES.get(run["recipe"], ())} for run in record["soup_of"])
        counts["role"] = counts["role"].split(" (in ")[0]  # a member soup's note is recounted here
        if used < n_runs:
            counts["role"] += f" (in {used} of the {n_runs} runs)"
    (args.output / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record["thresholds"], indent=2))


if __name__ == "__main__":
    main()
