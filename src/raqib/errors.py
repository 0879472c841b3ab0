"""Every error raqib raises. Each says what happened, the value, and how to fix it."""

from __future__ import annotations


class RaqibError(Exception):
    """Base class: catch this to handle any raqib failure."""


class ModelNotFoundError(RaqibError, FileNotFoundError):
    """No model directory at a path, or no model of that name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class InvalidModelDirError(RaqibError, ValueError):
    """A model directory is incomplete, inconsistent, tampered with, or holds unsafe files."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class IncompatibleModelError(RaqibError, ValueError):
    """A model needs a format or normaliser version that this raqib does not provide."""


class BackboneError(RaqibError, RuntimeError):
    """The offline base encoder could not be built (package missing or its file corrupt)."""


class ReaderError(RaqibError, ValueError):
    """An input file cannot be read at all (not one bad record: those become error records)."""

    def __init__(self, path: str, message: str, position: int | None = None) -> None:
        where = f" at {position}" if position is not None else ""
        super().__init__(f"{path}{where}: {message}")
        self.path = path
        self.position = position
