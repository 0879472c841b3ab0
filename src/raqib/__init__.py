"""raqib: score Arabic social-media posts for calls to violence and terrorist propaganda.

    >>> import raqib
    >>> clf = raqib.load()                      # the bundled default model, offline
    >>> clf.score("...").flagged                 # doctest: +SKIP

`import raqib` is light: torch and transformers load only when a model does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raqib.errors import (
    IncompatibleModelError,
    InvalidModelDirError,
    ModelNotFoundError,
    RaqibError,
    ReaderError,
)
from raqib.posts import Post
from raqib.results import PostScore

if TYPE_CHECKING:
    from raqib.classifier import Classifier

__version__ = "0.1.0"

LABELS: tuple[str, ...] = ("violent_call", "propaganda")
"""The two labels every raqib model scores, in config order."""

__all__ = [
    "LABELS",
    "Classifier",
    "IncompatibleModelError",
    "InvalidModelDirError",
    "ModelNotFoundError",
    "Post",
    "PostScore",
    "RaqibError",
    "ReaderError",
    "__version__",
    "load",
]


def load(
    name_or_path: str | None = None,
    *,
    device: str = "auto",
    dtype: str = "auto",
    thresholds: dict[str, float] | None = None,
) -> Classifier:
    """Load a model directory (or a bundled model by name) as a ready `Classifier`.

    Args:
        name_or_path: a directory, or the name of a model in ``$RAQIB_MODELS_DIR`` or among the bundled
            models. ``None`` loads the default bundled model. Never downloads anything.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype: ``"auto"`` (bf16 on CPUs that compute it natively, fp16 on CUDA, else fp32), or force
            ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        thresholds: per-label decision thresholds that replace the model's own (logged).

    Raises:
        ModelNotFoundError: nothing by that name or path.
        InvalidModelDirError: the directory is incomplete, tampered with, or holds pickle weights.
        IncompatibleModelError: the model needs a normaliser or format this raqib does not have.
    """
    from raqib.classifier import Classifier

    return Classifier.from_dir(name_or_path, device=device, dtype=dtype, thresholds=thresholds)  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:  # PEP 562: keep `import raqib` free of torch
    if name == "Classifier":
        from raqib.classifier import Classifier

        return Classifier
    raise AttributeError(f"module 'raqib' has no attribute {name!r}")
