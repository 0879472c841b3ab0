"""The Ray Data engine: same records, same order, same error rows as one process; on a local Ray cluster."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("ray.data", reason='the Ray engine is an extra: pip install "raqib[ray]"')

from raqib import distributed as rd  # noqa: E402
from raqib.cli import main  # noqa: E402
from raqib.errors import RaqibError  # noqa: E402

POSTS = ["سوف اقتلك", "صباح الخير", "الدولة الاسلامية باقية", "الطقس جميل اليوم", "يا شباب اقتلوهم"]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local two-CPU Ray cluster for this module (started in the test, shut down after it)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _jsonl_input(path: Path, n: int) -> Path:
    """``n`` records with reposts, a bad JSON line, a record without text and a bare string every so often."""
    lines = []
    for i in range(n):
        if i % 97 == 13:
            lines.append("{not json")
        elif i % 89 == 7:
            lines.append(json.dumps({"id": f"p{i}", "text": None}))
        elif i % 50 == 3:
            lines.append(json.dumps(POSTS[i % len(POSTS)], ensure_ascii=False))
        else:
            lines.append(
                json.dumps(
                    {
                        "id": f"p{i}",
                        "text": POSTS[i % len(POSTS)] + f" {i % 7}",
                        "channel": "c",
                        "forwarded_from": "x",
                    },
                    ensure_ascii=False,
                )
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _score_both(tmp_path: Path, model: Path, src: Path, out_name: str, *extra: str) -> tuple[bytes, bytes]:
    local, on_ray = tmp_path / f"local-{out_name}", tmp_path / f"ray-{out_name}"
    assert main(["score", str(src), "-o", str(local), "--model", str(model), "--no-progress", *extra]) == 0
    assert (
        main(
            [
                "score",
                str(src),
                "-o",
                str(on_ray),
                "--model",
                str(model),
                "--no-progress",
                "--engine",
                "ray",
                "--workers",
                "2",
                *extra,
            ]
        )
        == 0
    )
    return local.read_bytes(), on_ray.read_bytes()


def _assert_same_records(local: list[dict], on_ray: list[dict]) -> None:
    """Every record, id, error and decision the same and in the same order; probabilities equal up to float32
    rounding, whose last digits depend on how posts are batched and on each process's thread count."""
    assert len(on_ray) == len(local)
    for mine, theirs in zip(on_ray, local, strict=True):
        probabilities = {k for k in theirs if k.startswith("p_")}
        assert {k: v for k, v in mine.items() if k not in probabilities} == {
            k: v for k, v in theirs.items() if k not in probabilities
        }
        for key in probabilities:
            if theirs[key] in (None, ""):
                assert mine[key] == theirs[key]
            else:
                assert float(mine[key]) == pytest.approx(float(theirs[key]), abs=1e-6)


def _jsonl_records(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_ray_engine_writes_what_one_process_writes(ray_cluster, tiny_model_dir: Path, tmp_path: Path) -> None:
    src = _jsonl_input(tmp_path / "posts.jsonl", 1200)
    local, on_ray = _score_both(tmp_path, tiny_model_dir, src, "scores.jsonl", "--batch-size", "8")
    records = _jsonl_records(on_ray)
    _assert_same_records(_jsonl_records(local), records)
    assert len(records) == 1200
    errors = [r for r in records if r["error"]]
    assert len(errors) == 13 + 14  # the bad JSON lines and the records without text, in their places
    assert records[13]["error"].startswith("line 14:")
    assert records[0]["meta"] == {"forwarded_from": "x"}


def test_ray_engine_parquet_output_matches(ray_cluster, tiny_model_dir: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    src = _jsonl_input(tmp_path / "posts.jsonl", 120)
    _score_both(tmp_path, tiny_model_dir, src, "scores.parquet")
    local = pq.read_table(tmp_path / "local-scores.parquet")
    on_ray = pq.read_table(tmp_path / "ray-scores.parquet")
    assert on_ray.schema.equals(local.schema)
    _assert_same_records(local.to_pylist(), on_ray.to_pylist())


def test_read_dataset_parquet_input_numbers_rows_and_keeps_bad_ones(ray_cluster, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "posts"
    folder.mkdir()
    pq.write_table(
        pa.table({"body": ["أ", None, "ب"], "channel": ["c1", "c1", None]}), folder / "part-0.parquet"
    )
    pq.write_table(pa.table({"body": ["ج", "د"], "channel": [None, "c2"]}), folder / "part-1.parquet")
    rows = rd.read_dataset(folder, text_column="body", channel="dump").take_all()
    assert [r["row"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5"]  # 1-based row numbers, as line numbers are
    assert [r["channel"] for r in rows] == ["c1", "c1", "dump", "dump", "c2"]
    assert rows[1]["error"] == "body is not text" and rows[1]["position"] == "row 2"
    with pytest.raises(RaqibError, match="no column 'text'"):
        rd.read_dataset(folder)


def test_score_file_refuses_rows_out_of_order(
    ray_cluster, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver checks every row number: a lost or reordered row fails the run instead of shifting ids."""
    real = rd.score_dataset

    def dropping_one(ds, *args, **kwargs):
        return real(ds, *args, **kwargs).filter(lambda row: row["row"] != 5)

    monkeypatch.setattr(rd, "score_dataset", dropping_one)
    src = _jsonl_input(tmp_path / "posts.jsonl", 20)
    with pytest.raises(RaqibError, match="returned input record 6 where 5 was due"):
        rd.score_file(src, tmp_path / "out.jsonl", tiny_model_dir)


def test_engine_ray_refuses_resume(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    src = _jsonl_input(tmp_path / "posts.jsonl", 5)
    out = tmp_path / "out.jsonl"
    out.write_text("")
    code = main(
        ["score", str(src), "-o", str(out), "--model", str(tiny_model_dir), "--engine", "ray", "--resume"]
    )
    assert code == 1
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_engine_telegram_export_at_scale(ray_cluster, tiny_model_dir: Path, tmp_path: Path) -> None:
    """20,000 posts of a Telegram export with service messages and bad messages: the same records."""
    messages = []
    for i in range(20_000):
        if i % 1000 == 1:
            messages.append({"id": i, "type": "service", "action": "pin_message"})
        elif i % 1000 == 2:
            messages.append({"id": i, "type": "message", "text": 5})
        else:
            messages.append(
                {
                    "id": i,
                    "type": "message",
                    "date": "2024-01-01T00:00:00",
                    "text": POSTS[i % len(POSTS)] + f" {i % 13}",
                }
            )
    src = tmp_path / "result.json"
    src.write_text(
        json.dumps(
            {"name": "chan", "type": "public_channel", "id": 1, "messages": messages}, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    local, on_ray = _score_both(tmp_path, tiny_model_dir, src, "scores.csv")
    _assert_same_records(
        list(csv.DictReader(io.StringIO(local.decode()))), list(csv.DictReader(io.StringIO(on_ray.decode())))
    )
    assert local.count(b"\n") == 1 + 20_000 - 20  # header + every message but the service ones
