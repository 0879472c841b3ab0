"""Plain result records: what scoring returns. Values are Python floats and strings, so they serialise as-is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TokenContribution:
    """A span of the original post that pushed a label's score up."""

    label: str
    """The label this span contributes to."""
    text: str
    """The span as written in the original post."""
    start: int
    """Start offset (in characters) in the original post."""
    end: int
    """End offset (exclusive) in the original post."""
    weight: float
    """Drop in the label's logit when the span is masked out (higher = more responsible)."""


@dataclass(frozen=True, slots=True)
class PostScore:
    """The scores for one post, or the reason it could not be scored (``error``)."""

    post_id: str | None
    """The input's id (``Post.id``), or its position in the input when it had none."""
    probabilities: Mapping[str, float]
    """Calibrated probability per label, keys in the model's label order. Empty when ``error`` is set."""
    flagged: tuple[str, ...]
    """Labels whose probability is at or above their threshold."""
    thresholds: Mapping[str, float]
    """The thresholds the decision used (the model's, or the caller's override)."""
    normaliser_version: str
    """The normaliser version the model ran (it is part of the model's config)."""
    error: str | None = None
    """Why the input could not be scored; ``None`` for a scored post."""
    channel: str | None = None
    date: str | None = None
    source: str | None = None
    n_windows: int = 1
    """How many overlapping windows a long post was split into (the post's score is their max)."""
    contributions: tuple[TokenContribution, ...] = ()
    """Top contributing spans, mapped back to the original text; only when asked for (``explain=True``)."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Extra fields carried from the input record."""

    @property
    def is_flagged(self) -> bool:
        """True when any label is flagged."""
        return bool(self.flagged)

    @property
    def ok(self) -> bool:
        """True when the post was scored (no error)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """One JSON Lines record. Error records keep the same keys, with ``error`` set."""
        record: dict[str, Any] = {
            "id": self.post_id,
            "channel": self.channel,
            "date": self.date,
            "source": self.source,
            "error": self.error,
            "flagged": list(self.flagged),
        }
        for label, p in self.probabilities.items():
            record[f"p_{label}"] = p
        record["thresholds"] = dict(self.thresholds)
        record["normaliser_version"] = self.normaliser_version
        record["n_windows"] = self.n_windows
        if self.contributions:
            record["contributions"] = [
                {"label": c.label, "text": c.text, "start": c.start, "end": c.end, "weight": c.weight}
                for c in self.contributions
            ]
        if self.meta:
            record["meta"] = dict(self.meta)
        return record
