"""Model directories: where they are, what their config says, and whether they are safe to load.

A raqib model directory is a transformers ``save_pretrained`` directory (``config.json`` +
``model.safetensors`` [+ tokenizer files]) whose ``config.json`` carries one extra ``"raqib"`` block:
labels, thresholds, calibration, the normaliser it was trained with, window length, and, for compact
models, the base encoder they apply their low-rank deltas to. Only this module knows that layout.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from raqib.errors import IncompatibleModelError, InvalidModelDirError, ModelNotFoundError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_MODEL = "raqib-ar-v1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".h5", ".msgpack")
"""Weight formats that can run code when loaded (pickle) or that raqib never reads."""


@dataclass
class Calibration:
    """Platt scaling per label: p = sigmoid(scale * logit + bias), fitted on the validation split."""

    scale: float = 1.0
    bias: float = 0.0


@dataclass
class ModelConfig:
    """The ``raqib`` block of a model's config.json."""

    labels: tuple[str, ...]
    thresholds: dict[str, float]
    normaliser: dict[str, str]
    max_length: int = 256
    """Tokens per window (incl. special tokens); longer posts are split into overlapping windows."""
    window_stride: int = 64
    """Tokens shared by consecutive windows, so a sentence cut by one window is whole in the next."""
    calibration: dict[str, Calibration] = field(default_factory=dict)
    base: dict[str, str] | None = None
    """For compact models: {"name": base model name, "sha256": of its source file}; None for full weights."""
    adapter: dict[str, Any] | None = None
    """For compact models: {"type": "lora", "r": int, "alpha": float, "targets": [module suffixes]}."""
    weights_sha256: str | None = None
    format_version: int = FORMAT_VERSION
    raqib_version: str = ""
    created_with: dict[str, str] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["labels"] = list(self.labels)
        return out

    @classmethod
    def from_json_dict(cls, data: dict[str, Any], *, where: str) -> ModelConfig:
        required = ("labels", "thresholds", "normaliser")
        missing = [k for k in required if k not in data]
        if missing:
            raise InvalidModelDirError(where, f"config.json's 'raqib' block lacks {', '.join(missing)}")
        fv = int(data.get("format_version", 1))
        if fv > FORMAT_VERSION:
            raise IncompatibleModelError(
                f"{where}: model format {fv} is newer than this raqib reads ({FORMAT_VERSION}): upgrade raqib"
            )
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["labels"] = tuple(data["labels"])
        kwargs["calibration"] = {k: Calibration(**v) for k, v in data.get("calibration", {}).items()}
        cfg = cls(**kwargs)
        if set(cfg.thresholds) != set(cfg.labels):
            raise InvalidModelDirError(where, f"thresholds {sorted(cfg.thresholds)} do not match labels {cfg.labels}")
        return cfg


def bundled_models_dir() -> Path | None:
    """``models/`` of a source checkout, or ``raqib/models`` inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent.parent / "models"):
        if candidate.is_dir():
            return candidate
    return None


def search_dirs() -> list[Path]:
    dirs = []
    env = os.environ.get("RAQIB_MODELS_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    bundled = bundled_models_dir()
    if bundled is not None:
        dirs.append(bundled)
    return dirs


def available_models() -> dict[str, Path]:
    """Model names found in ``$RAQIB_MODELS_DIR`` and the bundled models (first one wins)."""
    found: dict[str, Path] = {}
    for d in search_dirs():
        for sub in sorted(d.iterdir()):
            if (sub / CONFIG_FILE).is_file() and sub.name not in found:
                found[sub.name] = sub
    return found


def resolve(name_or_path: str | os.PathLike[str] | None) -> Path:
    """A model name or path to an existing directory, without any network access."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    models = available_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    listed = ", ".join(models) or "none"
    raise ModelNotFoundError(
        str(name_or_path),
        f"no model directory or bundled model named {str(name_or_path)!r} (available: {listed}). "
        "Pass a model directory, set RAQIB_MODELS_DIR, or train one with 'raqib train'.",
    )


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def check_files(path: Path) -> None:
    """Refuse directories that hold pickle-format weights or files escaping the directory."""
    for entry in path.iterdir():
        if entry.suffix.lower() in UNSAFE_SUFFIXES:
            raise InvalidModelDirError(
                str(path),
                f"{entry.name} is a pickle-format (or unsupported) weight file; raqib loads safetensors only. "
                "Convert it with safetensors (e.g. model.save_pretrained(dir, safe_serialization=True)).",
            )
        if entry.is_symlink() and not _inside(path, entry):
            raise InvalidModelDirError(str(path), f"{entry.name} is a link that points outside the model directory")
    if not (path / WEIGHTS_FILE).is_file():
        raise InvalidModelDirError(str(path), f"{WEIGHTS_FILE} is missing (the directory is incomplete)")


def read_config(path: Path) -> tuple[dict[str, Any], ModelConfig]:
    """The whole config.json and its parsed ``raqib`` block."""
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise InvalidModelDirError(str(path), f"{CONFIG_FILE} is missing: not a raqib model directory")
    try:
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelDirError(str(path), f"{CONFIG_FILE} is not valid JSON: {exc}") from None
    if "raqib" not in data:
        raise InvalidModelDirError(str(path), f"{CONFIG_FILE} has no 'raqib' block: not a raqib model directory")
    return data, ModelConfig.from_json_dict(data["raqib"], where=str(path))


def write_config(path: Path, hf_config: dict[str, Any], cfg: ModelConfig) -> None:
    data = dict(hf_config)
    data["raqib"] = cfg.to_json_dict()
    (path / CONFIG_FILE).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
