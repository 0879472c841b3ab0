"""`training/soup.py` (a script, loaded by path): averaging runs must average what each run does, exactly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from raqib.classifier import apply_lora

REPO = Path(__file__).resolve().parents[1]


def _soup():
    spec = importlib.util.spec_from_file_location("soup", REPO / "training" / "soup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"layer.lora_A": torch.randn(4, 6, generator=g), "layer.lora_B": torch.randn(5, 4, generator=g),
            "classifier.weight": torch.randn(2, 5, generator=g), "classifier.bias": torch.randn(2, generator=g)}


def _merged(state: dict[str, torch.Tensor], adapter: dict, base: torch.Tensor) -> torch.Tensor:
    model = torch.nn.Module()
    model.layer = torch.nn.Linear(6, 5, bias=False)
    with torch.no_grad():
        model.layer.weight.copy_(base)
    apply_lora(model, state, adapter)
    return model.layer.weight.detach()


def test_the_soup_merges_to_the_mean_of_the_runs_weights():
    adapter = {"type": "lora", "r": 4, "alpha": 8, "targets": ["layer"]}
    runs = [_run(seed) for seed in range(3)]
    state, soup_adapter = _soup().soup_state(runs, [adapter] * 3)
    assert soup_adapter["r"] == 12 and soup_adapter["alpha"] / soup_adapter["r"] == adapter["alpha"] / adapter["r"]
    base = torch.randn(5, 6)
    expected = torch.stack([_merged(run, adapter, base) for run in runs]).mean(0)
    torch.testing.assert_close(_merged(state, soup_adapter, base), expected)
    torch.testing.assert_close(state["classifier.weight"], torch.stack([r["classifier.weight"] for r in runs]).mean(0))


def test_runs_with_different_adapters_are_refused():
    adapter = {"type": "lora", "r": 4, "alpha": 8, "targets": ["layer"]}
    with pytest.raises(ValueError, match="adapter layout"):
        _soup().soup_state([_run(0), _run(1)], [adapter, {**adapter, "alpha": 16}])


def test_runs_must_share_their_settings_but_not_their_seed_epochs_or_time_budget():
    check = _soup().check_runs
    config = {"epochs": 1.0, "lora_r": 16, "learning_rate": 2e-4, "seed": 0, "max_minutes": 40.0,
              "threads": None}
    run = {"config": config, "stopped_early": False}
    other = {**config, "seed": 1, "epochs": 1.5, "max_minutes": 60.0, "threads": 2}
    check([Path("a"), Path("b")], [run, {**run, "config": other}])
    with pytest.raises(SystemExit, match="different settings \\(learning_rate, lora_r\\)"):
        check([Path("a"), Path("b")], [run, {**run, "config": {**config, "lora_r": 8, "learning_rate": 1e-4}}])
    # a run recorded before a setting existed ran with its default, and only the default matches it
    check([Path("a"), Path("b")], [run, {**run, "config": {**config, "lora_dropout": 0.05}}])
    with pytest.raises(SystemExit, match="different settings \\(lora_dropout\\)"):
        check([Path("a"), Path("b")], [run, {**run, "config": {**config, "lora_dropout": 0.1}}])
    with pytest.raises(SystemExit, match="stopped at their --max-minutes before their planned steps: b"):
        check([Path("a"), Path("b")], [run, {**run, "stopped_early": True}])


def test_the_model_card_lists_every_run_of_a_soup(tmp_path):
    import json
    import shutil

    from raqib import model_card

    shutil.copy(REPO / "models" / "raqib-ar-v1" / "config.json", tmp_path / "config.json")
    runs = [{"run": f"out/runs/default-{seed}", "recipe": "default", "seed": seed, "steps": 2364 + seed,
             "train_minutes": 41.7, "device": "cpu", "precision": "bf16 autocast", "final_loss": 0.07}
            for seed in (0, 1)]
    record = {"soup_of": runs, "config": {"batch_size": 32, "lora_r": 16}, "adapter": {"r": 32}}
    (tmp_path / "training.json").write_text(json.dumps(record), encoding="utf-8")
    card = model_card.render(tmp_path)
    assert "2 runs averaged into one model" in card and "adapter of rank 32" in card
    assert "| out/runs/default-0 | default | 0 | 2364 | 41.7 |" in card
    assert "| out/runs/default-1 | default | 1 | 2365 | 41.7 |" in card


def test_a_soup_of_a_soup_and_more_runs_is_the_soup_of_all_their_runs():
    soup_state = _soup().soup_state
    adapter = {"type": "lora", "r": 4, "alpha": 8, "targets": ["layer"]}
    runs = [_run(seed) for seed in range(5)]
    first, first_adapter = soup_state(runs[:3], [adapter] * 3)
    state, soup_adapter = soup_state([first, *runs[3:]], [first_adapter, adapter, adapter], [3, 1, 1])
    direct, direct_adapter = soup_state(runs, [adapter] * 5)
    assert soup_adapter == direct_adapter
    base = torch.randn(5, 6)
    torch.testing.assert_close(_merged(state, soup_adapter, base), _merged(direct, direct_adapter, base))
    torch.testing.assert_close(state["classifier.bias"], direct["classifier.bias"])
    with pytest.raises(ValueError, match="adapter layout"):  # the soup's rank read as one run's
        soup_state([first, runs[3]], [first_adapter, adapter], [1, 1])
