"""Labelled files for evaluation: CSV, TSV, JSON Lines, or a `datasets` dataset saved with `save_to_disk`.

A wrong column silently read as "all negative" would make any model look good, so every column is checked:
a missing one is a `ReaderError` that lists the columns there are, and a label value that is not 0/1
(or true/false) is an error with its row.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raqib import LABELS
from raqib.errors import ReaderError

if TYPE_CHECKING:
    import numpy as np

_TRUE = {"1", "1.0", "true", "yes", "t", "y"}
_FALSE = {"0", "0.0", "false", "no", "f", "n"}
ID_COLUMN = "id"
"""The column used as example id when present (otherwise the row number, from 0)."""


@dataclass(frozen=True)
class LabelledSet:
    """Texts with their gold labels, in file order, plus what is needed to report on them."""

    texts: list[str]
    """The texts as written (the classifier normalises them itself)."""
    gold: dict[str, np.ndarray]
    """Per label, an int array of 0/1, aligned with ``texts``."""
    ids: list[str]
    """The ``id`` column as text, or the row number when there is none."""
    groups: list[str] | None = None
    """The group of each example (dialect, source, platform...), when a group column was named."""
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    """Precomputed predictions shipped with the data: ``{system: {label: float array}}``."""
    extra: dict[str, list[Any]] = field(default_factory=dict)
    """Every other column, unchanged."""
    path: str | None = None
    """Where it was read from."""
    sha256: str | None = None
    """SHA-256 of the file (of every file, in name order, for a dataset directory)."""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.gold)

    def subset(self, indices: Sequence[int]) -> LabelledSet:
        """The examples at ``indices``, in that order (for held-out splits)."""
        idx = list(indices)
        return LabelledSet(
            texts=[self.texts[i] for i in idx],
            gold={lb: v[idx] for lb, v in self.gold.items()},
            ids=[self.ids[i] for i in idx],
            groups=None if self.groups is None else [self.groups[i] for i in idx],
            predictions={s: {lb: v[idx] for lb, v in per.items()} for s, per in self.predictions.items()},
            extra={c: [v[i] for i in idx] for c, v in self.extra.items()},
            path=self.path,
            sha256=self.sha256,
        )

    def label_matrix(self) -> np.ndarray:
        """Gold as an ``(n, n_labels)`` array in label order (what `TfidfBaseline.fit` takes)."""
        import numpy as np

        return (
            np.stack([self.gold[lb] for lb in self.gold], axis=1) if self.gold else np.zeros((len(self), 0))
        )


def read_labelled(
    path: str | Path,
    *,
    text_column: str = "text",
    label_columns: Mapping[str, str] | None = None,
    group_column: str | None = None,
    id_column: str | None = None,
    prediction_columns: Mapping[str, Mapping[str, str]] | None = None,
    split: str | None = None,
) -> LabelledSet:
    """Read a labelled file.

    Args:
        path: a ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson`` file, or a directory written by
            ``datasets.Dataset.save_to_disk`` (or ``DatasetDict.save_to_disk``, with ``split``).
        text_column: the column holding the post text.
        label_columns: ``{label: column}``; by default each label of `raqib.LABELS` is read from the column of
            the same name.
        group_column: a column to break metrics down by (dialect, source, platform...).
        id_column: the example id column; by default ``id`` when present, else the row number.
        prediction_columns: ``{system: {label: column}}`` of precomputed predictions to compare against
            (0/1 or probabilities in [0, 1]; true/false accepted).
        split: which split of a saved ``DatasetDict`` (not needed when it has one split).

    Raises:
        ReaderError: the file cannot be read, a named column is missing (the message lists the columns
            there are), or a label value is not 0/1.

    Example:
        >>> data = read_labelled("tests/data/eval_small.jsonl", group_column="dialect")  # doctest: +SKIP
    """
    p = Path(path)
    if not p.exists():
        raise ReaderError(str(p), "no such file or directory")
    label_columns = dict(label_columns) if label_columns else {lb: lb for lb in LABELS}
    prediction_columns = {s: dict(m) for s, m in (prediction_columns or {}).items()}
    columns, rows = _read_rows(p, split)
    where = str(p)

    if id_column is None and ID_COLUMN in columns:
        id_column = ID_COLUMN
    wanted = {"text column": [text_column], "label columns": list(label_columns.values())}
    if group_column:
        wanted["group column"] = [group_column]
    if id_column:
        wanted["id column"] = [id_column]
    for system, per in prediction_columns.items():
        wanted[f"prediction columns of {system!r}"] = list(per.values())
    for what, names in wanted.items():
        missing = [c for c in names if c not in columns]
        if missing:
            raise ReaderError(
                where,
                f"{what} {', '.join(repr(c) for c in missing)} not found; the file has columns "
                f"{', '.join(repr(c) for c in columns)}. Name the right ones with --text-column / "
                "--label-column LABEL=COLUMN / --group-column / --prediction-column SYSTEM:LABEL=COLUMN",
            )
    for system, per in prediction_columns.items():
        unknown = [lb for lb in per if lb not in label_columns]
        if unknown:
            raise ReaderError(
                where,
                f"predictions of {system!r} for unknown label(s) {unknown}; labels are {list(label_columns)}",
            )

    import numpy as np

    texts: list[str] = []
    ids: list[str] = []
    groups: list[str] | None = [] if group_column else None
    gold: dict[str, list[int]] = {lb: [] for lb in label_columns}
    preds: dict[str, dict[str, list[float]]] = {
        s: {lb: [] for lb in per} for s, per in prediction_columns.items()
    }
    used = {
        text_column,
        *label_columns.values(),
        *(c for per in prediction_columns.values() for c in per.values()),
    }
    used |= {c for c in (group_column, id_column) if c}
    extra: dict[str, list[Any]] = {c: [] for c in columns if c not in used}
    for n, row in enumerate(rows):
        text = row.get(text_column)
        if text is None or (isinstance(text, float) and math.isnan(text)):
            raise ReaderError(where, f"empty {text_column!r} value", position=_row(n))
        texts.append(str(text))
        ids.append(str(row[id_column]) if id_column and row.get(id_column) is not None else str(n))
        if groups is not None:
            value = row.get(group_column)  # type: ignore[arg-type]
            groups.append("(missing)" if value is None or value == "" else str(value))
        for label, column in label_columns.items():
            gold[label].append(_binary(row.get(column), where, n, column))
        for system, per in prediction_columns.items():
            for label, column in per.items():
                preds[system][label].append(_probability(row.get(column), where, n, column))
        for c in extra:
            extra[c].append(row.get(c))
    if not texts:
        raise ReaderError(where, "no examples in the file")
    return LabelledSet(
        texts=texts,
        gold={lb: np.asarray(v, dtype=int) for lb, v in gold.items()},
        ids=ids,
        groups=groups,
        predictions={
            s: {lb: np.asarray(v, dtype=float) for lb, v in per.items()} for s, per in preds.items()
        },
        extra=extra,
        path=where,
        sha256=file_sha256(p),
    )


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a directory's files (relative names and contents, in name order)."""
    p = Path(path)
    digest = hashlib.sha256()
    if p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            digest.update(f.relative_to(p).as_posix().encode() + b"\0")
            _update(digest, f)
    else:
        _update(digest, p)
    return digest.hexdigest()


def _update(digest: Any, path: Path) -> None:
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)


def _row(n: int) -> int:
    return n + 1  # 1-based for people: "row 1" is the first example (after any header)


def _binary(value: Any, where: str, n: int, column: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return int(value.strip().lower() in _TRUE)
    raise ReaderError(
        where, f"column {column!r} must hold 0/1 (or true/false), got {value!r}", position=_row(n)
    )


def _probability(value: Any, where: str, n: int, column: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        s = value.strip().lower()
        if s in _TRUE | _FALSE:
            return float(s in _TRUE)
        try:
            value = float(s)
        except ValueError:
            value = None
    if isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise ReaderError(
        where,
        f"prediction column {column!r} must hold 0/1 or a probability in [0, 1], got {value!r}",
        position=_row(n),
    )


def _read_rows(path: Path, split: str | None) -> tuple[list[str], Iterator[Mapping[str, Any]]]:
    """Column names and an iterator of row mappings."""
    if path.is_dir():
        return _read_dataset(path, split)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _read_delimited(path, "\t" if suffix == ".tsv" else ",")
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    raise ReaderError(
        str(path), f"unknown file type {suffix!r}; use .csv, .tsv, .jsonl, or a directory saved by datasets"
    )


def _read_delimited(path: Path, delimiter: str) -> tuple[list[str], Iterator[Mapping[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReaderError(str(path), f"not UTF-8 text ({exc}); re-save it as UTF-8") from exc
    reader = csv.DictReader(text.splitlines(keepends=True), delimiter=delimiter)
    columns = list(reader.fieldnames or [])
    if not columns:
        raise ReaderError(str(path), "no header row")
    return columns, iter(list(reader))


def _read_jsonl(path: Path) -> tuple[list[str], Iterator[Mapping[str, Any]]]:
    rows: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReaderError(str(path), f"invalid JSON ({exc.msg})", position=n) from exc
            if not isinstance(row, dict):
                raise ReaderError(
                    str(path), f"each line must be a JSON object, got {type(row).__name__}", position=n
                )
            rows.append(row)
            columns.update(dict.fromkeys(row))
    return list(columns), iter(rows)


def _read_dataset(path: Path, split: str | None) -> tuple[list[str], Iterator[Mapping[str, Any]]]:
    if not (path / "dataset_info.json").exists() and not (path / "dataset_dict.json").exists():
        raise ReaderError(str(path), "a directory must be a dataset saved with datasets' save_to_disk()")
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise ReaderError(
            str(path), 'reading saved datasets needs the datasets package: pip install "raqib"'
        ) from exc
    data = load_from_disk(str(path))
    if isinstance(data, DatasetDict):
        names = list(data)
        if split is None and len(names) == 1:
            split = names[0]
        if split not in data:
            raise ReaderError(str(path), f"choose a split with --split; the dataset has {names}")
        data = data[split]
    elif split is not None:
        raise ReaderError(str(path), f"--split {split!r} given but the dataset has no splits")
    return list(data.column_names), iter(data)
