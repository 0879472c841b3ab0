"""Where a model runs and in which precision: CUDA when present, bf16 on CPUs that compute it natively."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 matrix instructions (AVX-512 BF16 or AMX), where bf16 is ~2x fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: Dtype, device: str) -> torch.dtype:
    """``auto``: fp16 on CUDA, bf16 on CPUs that support it, fp32 otherwise.

    There is no int8: dynamic int8 changed 9.4% of the shipped model's decisions on the challenge texts
    (`benchmarks/int8_agreement.py`), against 0.2% for bf16.
    """
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.float16
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def cpu_threads() -> int:
    """The cores this process may run on (its CPU affinity), which containers often set below the machine's."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars while raqib assembles a model it validates itself."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
