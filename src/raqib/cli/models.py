"""`raqib models`: list the models raqib can load without a network."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list available models",
        description="List the models found in $RAQIB_MODELS_DIR and the bundled models, with their thresholds.",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:  # noqa: ARG001 - no options
    from raqib import model_dir as md

    models = md.available_models()
    if not models:
        print("no models found; set RAQIB_MODELS_DIR or train one with 'raqib train'")
        return 0
    for name, path in models.items():
        try:
            _, cfg = md.read_config(path)
            detail = ", ".join(f"{lb}>={t:.2f}" for lb, t in cfg.thresholds.items())
        except Exception as exc:  # noqa: BLE001 - listing must show broken dirs, not stop at them
            detail = f"unreadable: {exc}"
        default = " (default)" if name == md.DEFAULT_MODEL else ""
        print(f"{name}{default}\t{path}\t{detail}")
    return 0
