"""`Post`: what every reader yields and every scorer accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Post:
    """One social-media post, with what is needed to join a score back to its source."""

    text: str
    """The post's text as written (never normalised)."""
    id: str | None = None
    """The post's id in its source (Telegram message id, a JSONL/CSV id column, or the line number)."""
    source: str | None = None
    """Where it came from: ``telegram``, ``jsonl``, ``csv``, ``text``, or a caller's name."""
    channel: str | None = None
    """Channel, group or account the post belongs to, where known."""
    date: str | None = None
    """Publication time as ISO 8601 text, where known (kept as text so nothing is lost in parsing)."""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Extra fields a reader keeps (e.g. ``forwarded_from``), copied to the output record."""


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be read as a post. Scorers turn it into an error result, in place."""

    error: str
    """What was wrong, e.g. ``invalid JSON: Expecting value``."""
    id: str | None = None
    """The record's id if it could be read."""
    position: str | None = None
    """Where it was in the input, e.g. ``line 17`` or ``messages[42]``."""
    source: str | None = None
    channel: str | None = None
