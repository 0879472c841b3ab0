"""Loading refuses missing, incomplete, tampered or unsafe model directories, naming the problem."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import raqib
from raqib.errors import IncompatibleModelError, InvalidModelDirError, ModelNotFoundError


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "m"))


def edit_config(path: Path, **raqib_block) -> None:
    cfg = json.loads((path / "config.json").read_text())
    cfg["raqib"].update(raqib_block)
    (path / "config.json").write_text(json.dumps(cfg))


def test_model_dir_missing_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no-such-model.*available.*raqib train"):
        raqib.load(str(tmp_path / "no-such-model"))


def test_model_dir_unknown_name_lists_available_models(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("RAQIB_MODELS_DIR", str(tiny_model_dir.parent))
    with pytest.raises(ModelNotFoundError, match="tiny-model"):
        raqib.load("nope")
    assert raqib.load("tiny-model", device="cpu").labels == ("violent_call", "propaganda")


def test_model_dir_refuses_pickle_weights(model_copy):
    (model_copy / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(InvalidModelDirError, match="pytorch_model.bin.*pickle"):
        raqib.load(model_copy)


def test_model_dir_refuses_missing_weights(model_copy):
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(InvalidModelDirError, match="model.safetensors is missing"):
        raqib.load(model_copy)


def test_model_dir_refuses_missing_config_block(model_copy):
    cfg = json.loads((model_copy / "config.json").read_text())
    del cfg["raqib"]
    (model_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InvalidModelDirError, match="no 'raqib' block"):
        raqib.load(model_copy)


def test_model_dir_refuses_tampered_weights(model_copy):
    with open(model_copy / "model.safetensors", "r+b") as fh:
        fh.seek(-4, os.SEEK_END)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(InvalidModelDirError, match="sha256.*does not match"):
        raqib.load(model_copy)


def test_model_dir_refuses_unknown_normaliser_version(model_copy):
    edit_config(model_copy, normaliser={"name": "raqib", "version": "99"})
    with pytest.raises(IncompatibleModelError, match="normaliser version '99'"):
        raqib.load(model_copy)


def test_model_dir_refuses_newer_format(model_copy):
    edit_config(model_copy, format_version=99)
    with pytest.raises(IncompatibleModelError, match="upgrade raqib"):
        raqib.load(model_copy)


def test_model_dir_refuses_links_escaping_the_directory(model_copy, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    (model_copy / "special_tokens_map.json").unlink(missing_ok=True)
    (model_copy / "special_tokens_map.json").symlink_to(outside)
    with pytest.raises(InvalidModelDirError, match="outside the model directory"):
        raqib.load(model_copy)


def test_model_dir_thresholds_must_match_labels(model_copy):
    edit_config(model_copy, thresholds={"violent_call": 0.5})
    with pytest.raises(InvalidModelDirError, match="do not match labels"):
        raqib.load(model_copy)


def test_model_dir_load_overrides_thresholds(tiny_model_dir, caplog):
    caplog.set_level("INFO", logger="raqib")
    clf = raqib.load(tiny_model_dir, device="cpu", thresholds={"propaganda": 0.9})
    assert clf.thresholds == {"violent_call": 0.5, "propaganda": 0.9}
    assert "overriding propaganda threshold" in caplog.text
