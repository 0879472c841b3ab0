"""Scale-out scoring on Ray Data: one classifier per actor, many actors (``pip install "raqib[ray]"``).

One process scores about 150 posts/s on two cores. When a channel dump is too big for one machine, Ray Data
spreads the same scoring over a pool of actors, each loading the model once, on a laptop or a multi-node
cluster alike (``ray.init()`` joins the cluster named by ``RAY_ADDRESS``, or starts a local one). Nothing here
distributes work by itself: Ray does, and these functions only say what to run.

    >>> import ray, raqib.distributed as rd                                      # doctest: +SKIP
    >>> ds = rd.read_dataset("result.json")           # Telegram export, JSON Lines, CSV, text or Parquet
    >>> rd.score_dataset(ds, workers=4).write_parquet("s3://bucket/scores/")

Records keep their input order and ids, and a record that cannot be read or scored becomes an error row in
its place, exactly as `raqib score` writes them: `score_file` writes the same records as the local engine, with
probabilities equal up to rounding (each actor batches its own block on its own threads).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raqib.errors import RaqibError
from raqib.posts import BadRecord, Post
from raqib.results import PostScore

if TYPE_CHECKING:
    import ray.data

    from raqib.writers import Summary

log = logging.getLogger(__name__)

RAY_HINT = 'pip install "raqib[ray]"'
INPUT_COLUMNS = ("row", "text", "id", "source", "channel", "date", "meta", "error", "position")
"""One input record as a dataset row: a `Post` (``error`` null) or a `BadRecord` (``error`` set)."""

__all__ = ["read_dataset", "score_dataset", "score_file"]


def read_dataset(
    path: str | Path,
    *,
    format: str = "auto",
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
    block_rows: int = 500,
) -> ray.data.Dataset:
    """Read a file of posts into a Ray dataset of input records (`INPUT_COLUMNS`), in file order.

    Parquet (a file, a folder, or a URI such as ``s3://bucket/dump/``) is read by Ray in parallel. Every
    other format (a Telegram export is one JSON document; JSON Lines, CSV and text are read the same way
    for identical ids and error records) goes through `raqib.readers.read_posts` on the driver, a block of
    ``block_rows`` records at a time into the object store, so the driver's memory stays bounded.
    """
    ray = _ray()
    name = str(path)
    if format == "parquet" or (format == "auto" and _is_parquet(name)):
        return _read_parquet(name, text_column=text_column, id_column=id_column, channel=channel)
    import pyarrow as pa

    from raqib.readers import read_posts

    refs = []
    with read_posts(
        name,
        format=format,
        text_column=text_column,
        id_column=id_column,  # type: ignore[arg-type]
        channel=channel,
    ) as reader:
        block: list[dict[str, Any]] = []
        for row, item in enumerate(reader):
            block.append(_input_row(row, item))
            if len(block) >= block_rows:
                refs.append(ray.put(pa.Table.from_pylist(block, schema=_input_schema(pa))))
                block = []
        if block or not refs:
            refs.append(ray.put(pa.Table.from_pylist(block, schema=_input_schema(pa))))
    log.info(
        "read %s (%s): %d posts, %d bad records",
        name,
        reader.format,
        reader.stats.posts,
        reader.stats.bad_records,
    )
    ds = ray.data.from_arrow_refs(refs)
    ds.context.execution_options.preserve_order = True
    return ds


def score_dataset(
    ds: ray.data.Dataset,
    model: str | Path | None = None,
    *,
    workers: int = 2,
    cpus_per_worker: float = 1,
    batch_size: int = 32,
    thresholds: Mapping[str, float] | None = None,
    device: str = "cpu",
    dtype: str = "auto",
) -> ray.data.Dataset:
    """Score a dataset of input records on ``workers`` classifier actors, into `writers.flat_record` rows.

    ``model`` is a name or a directory every node can read (the bundled default ships in the wheel). Each
    actor loads it once and uses ``cpus_per_worker`` threads. The result keeps the input order (Ray Data's
    ``preserve_order`` is switched on) and carries the input's ``row`` number.
    """
    ray = _ray()
    ds.context.execution_options.preserve_order = True  # each dataset carries its own copy of the context
    return ds.map_batches(
        _Scorer,
        fn_constructor_kwargs={
            "model": None if model is None else str(model),
            "thresholds": dict(thresholds or {}),
            "device": device,
            "dtype": dtype,
            "threads": max(1, int(cpus_per_worker)),
            "batch_size": batch_size,
        },
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        batch_size=None,  # a whole block per call, so its posts are length-sorted into batches together
        batch_format="pyarrow",
    )


def score_file(
    input: str | Path,
    output: str | Path,
    model: str | Path | None = None,
    *,
    workers: int = 2,
    batch_size: int = 32,
    thresholds: Mapping[str, float] | None = None,
    dtype: str = "auto",
    summary: Summary | None = None,
    read_options: Mapping[str, Any] | None = None,
    on_result: Any = None,
) -> int:
    """Score ``input`` into ``output`` (.jsonl, .csv or .parquet) on Ray; returns the records written.

    The driver writes the file with raqib's own writers, in input order, so it is the file `raqib score`
    would write. Call ``ray.init(...)`` first to choose the cluster; otherwise Ray starts a local one.

    Raises:
        RaqibError: rows came back out of order or missing (never silently written).
    """
    from raqib import model_dir as md
    from raqib.writers import open_writer

    _, cfg = md.read_config(md.resolve(model))
    limits = {**cfg.thresholds, **(thresholds or {})}
    ds = read_dataset(input, **dict(read_options or {}))
    scored = score_dataset(
        ds, model, workers=workers, batch_size=batch_size, thresholds=thresholds, dtype=dtype
    )
    expected = 0
    with open_writer(output, labels=cfg.labels) as writer:
        for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
            for record in batch.to_pylist():
                if record["row"] != expected:
                    raise RaqibError(
                        f"the Ray engine returned input record {record['row']} where {expected} was due; "
                        f"{output} holds the {expected:,} records before it"
                    )
                score = score_from_flat_record(record, cfg.labels, limits)
                writer.write_one(score)
                if summary is not None:
                    summary.add(score)
                if on_result is not None:
                    on_result()
                expected += 1
    return expected


def score_from_flat_record(
    record: Mapping[str, Any], labels: tuple[str, ...], thresholds: Mapping[str, float]
) -> PostScore:
    """The `PostScore` a `raqib.writers.flat_record` row was made from (thresholds are not in the row)."""
    probs = {label: record[f"p_{label}"] for label in labels if record.get(f"p_{label}") is not None}
    return PostScore(
        post_id=record["id"],
        probabilities=probs,
        flagged=tuple(record["flagged"] or ()),
        thresholds=dict(thresholds),
        normaliser_version=record["normaliser_version"],
        error=record["error"],
        channel=record["channel"],
        date=record["date"],
        source=record["source"],
        n_windows=record["n_windows"],
        meta=json.loads(record["meta"]) if record["meta"] else {},
    )


class _Scorer:
    """A Ray actor holding one classifier: input-record batches in, result rows out."""

    def __init__(
        self, model: str | None, thresholds: dict[str, float], device: str, dtype: str, threads: int,
        batch_size: int,
    ) -> None:
        import torch

        import raqib

        torch.set_num_threads(threads)
        self.clf = raqib.load(model, device=device, dtype=dtype)
        self.thresholds = thresholds or None
        self.batch_size = batch_size

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from raqib.writers import flat_record, flat_schema

        records = batch.to_pylist()
        scores = self.clf.score_batch(
            [_item(r) for r in records], batch_size=self.batch_size, thresholds=self.thresholds
        )
        rows = []
        for record, score in zip(records, scores, strict=True):
            row = flat_record(score, self.clf.labels)
            row["row"] = record["row"]
            rows.append(row)
        return pa.Table.from_pylist(
            rows, schema=flat_schema(pa, self.clf.labels).append(pa.field("row", pa.int64()))
        )


def _input_row(row: int, item: Post | BadRecord) -> dict[str, Any]:
    meta = getattr(item, "meta", None)
    return {
        "row": row,
        "text": getattr(item, "text", None),
        "id": item.id,
        "source": item.source,
        "channel": item.channel,
        "date": getattr(item, "date", None),
        "meta": json.dumps(meta, ensure_ascii=False, default=str) if meta else None,
        "error": item.error if isinstance(item, BadRecord) else None,
        "position": item.position if isinstance(item, BadRecord) else None,
    }


def _item(record: Mapping[str, Any]) -> Post | BadRecord:
    where = {"id": record["id"], "source": record["source"], "channel": record["channel"]}
    if record["error"] is not None or not isinstance(record["text"], str):
        position = record["position"] or f"row {record['row'] + 1}"
        return BadRecord(record["error"] or "no text", position=position, **where)
    meta = json.loads(record["meta"]) if record["meta"] else {}
    return Post(record["text"], date=record["date"], meta=meta, **where)


def _input_schema(pa: Any) -> Any:
    return pa.schema([("row", pa.int64()), *((name, pa.string()) for name in INPUT_COLUMNS[1:])])


def _read_parquet(
    path: str, *, text_column: str, id_column: str | None, channel: str | None
) -> ray.data.Dataset:
    """Parquet input, read by Ray: ``text_column`` and ``id_column`` (default ``id``) become input records.

    Row numbers come from a driver-side count of each file's rows (Parquet footers), so ids default to the
    row number, as for the other formats, without reading the data on the driver.
    """
    ray = _ray()
    ds = ray.data.read_parquet(path)
    columns = ds.columns()
    if text_column not in columns:
        raise RaqibError(
            f"{path}: no column {text_column!r} (columns: {', '.join(columns)}); use --text-column"
        )
    if id_column is not None and id_column not in columns:
        raise RaqibError(f"{path}: no column {id_column!r} (columns: {', '.join(columns)}); use --id-column")
    id_col = id_column or ("id" if "id" in columns else None)
    keep = [c for c in (text_column, id_col, "channel", "date") if c is not None and c in columns]
    ds.context.execution_options.preserve_order = True  # row numbers follow the files' order
    numbered = _number_rows(ds.select_columns(list(dict.fromkeys(keep))))

    def to_records(batch: Any) -> Any:
        import pyarrow as pa

        out = []
        for r in batch.to_pylist():
            text = r.get(text_column)
            ident = r.get(id_col) if id_col else None
            out.append(
                {
                    "row": r["__row"],
                    "text": text if isinstance(text, str) else None,
                    "id": str(r["__row"] + 1) if ident is None else str(ident),
                    "source": "parquet",
                    "channel": _text_or_none(r.get("channel")) or channel,
                    "date": _text_or_none(r.get("date")),
                    "meta": None,
                    "error": None if isinstance(text, str) else f"{text_column} is not text",
                    "position": f"row {r['__row'] + 1}",
                }
            )
        return pa.Table.from_pylist(out, schema=_input_schema(pa))

    records = numbered.map_batches(to_records, batch_format="pyarrow")
    records.context.execution_options.preserve_order = True
    return records


def _number_rows(ds: ray.data.Dataset) -> ray.data.Dataset:
    """Add ``__row`` (0-based, in dataset order) from per-block row counts; no data passes the driver."""
    ray = _ray()

    def num_rows(table: Any) -> int:
        return table.num_rows

    def with_rows(table: Any, start: int) -> Any:
        import pyarrow as pa

        return table.append_column("__row", pa.array(range(start, start + table.num_rows), pa.int64()))

    refs = ds.to_arrow_refs()
    count = ray.remote(num_rows)
    counts = ray.get([count.remote(ref) for ref in refs])
    starts = [sum(counts[:i]) for i in range(len(counts))]
    numbered = ray.remote(with_rows)
    return ray.data.from_arrow_refs([numbered.remote(ref, at) for ref, at in zip(refs, starts, strict=True)])


def _is_parquet(name: str) -> bool:
    """A ``.parquet`` file, a folder (of Parquet files), or a URI Ray reads itself (``s3://``, ``gs://``...)."""
    return name.endswith(".parquet") or "://" in name or Path(name).is_dir()


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RaqibError(f"the Ray engine needs Ray Data: {RAY_HINT}") from None
    return ray
