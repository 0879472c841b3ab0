"""Fault injection in scoring (issue 9), end to end through `raqib score` and `raqib stream`, tiny model.

Every fault must leave the promise intact: each input record is scored or reported as unscorable, in
order, and an interrupted run leaves a valid file that ``--resume`` completes without scoring a record
twice or skipping one.

- a forward pass that raises: error records for that batch's posts, in place, and the run goes on;
- Ctrl-C (KeyboardInterrupt from the input or from the writer): exit 130, only complete records in OUT;
- a run killed outright (SIGKILL, marked slow): complete records and at most one torn last line;
- a full disk (``/dev/full``): one line naming the file, exit 1, no traceback;
- ``--resume``: the final file equals an uninterrupted run's (same ids, order, errors, scores), torn
  last line or not; outputs it cannot continue are refused with a message that says why.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import raqib
from raqib.cli import main

REPO = Path(__file__).resolve().parent.parent
POISON = "داعش"  # a word of the tiny vocabulary: a batch holding it fails in the patched forward pass
WORDS = (
    "سوف اقتل يا شباب الدولة الاسلامية باقية الخلافة جنود صباح الخير الطقس جميل اليوم المباراة فاز الفريق"
).split()


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`raqib.load` as the CLI calls it, but in float32 (bf16 padding noise would blur the comparisons)."""
    from raqib.classifier import Classifier

    loaded: list[Any] = []

    def load(name_or_path: str | None = None, *, device: str = "auto", dtype: str = "auto", thresholds: Any = None) -> Any:
        clf = Classifier.from_dir(name_or_path, device="cpu", dtype="float32", thresholds=thresholds)
        loaded.append(clf)
        return clf

    monkeypatch.setattr(raqib, "load", load)
    return loaded


def _posts(n: int, *, bad_every: int = 7, poison: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """JSON Lines: n records, ids p0..p(n-1); every ``bad_every``-th is bad (invalid JSON or wrong type)."""
    lines = []
    for i in range(n):
        words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(3 + i % 5)]
        if i in poison:
            words.append(POISON)
        text = " ".join(words) + f" {i}"
        if bad_every and i % bad_every == 3:
            torn = f'{{"id": "p{i}", "text": '  # invalid JSON: no id can be read
            lines.append(torn if i % 2 else json.dumps({"id": f"p{i}", "text": i}))
        else:
            lines.append(json.dumps({"id": f"p{i}", "text": text, "channel": "قناة"}, ensure_ascii=False))
    return lines


def _input(tmp_path: Path, n: int = 60, **kw: Any) -> Path:
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(line + "\n" for line in _posts(n, **kw)), encoding="utf-8")
    return path


def _score(src: Path, out: Path, model: Path, *extra: str) -> int:
    return main(
        [
            "score",
            str(src),
            "-o",
            str(out),
            "--model",
            str(model),
            "--no-progress",
            "--batch-size",
            "4",
            *extra,
        ]
    )


def _records(out: Path) -> list[dict[str, Any]]:
    """The output's records, each line checked to be one complete JSON object."""
    data = out.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "only complete lines"
    if out.suffix == ".csv":
        with out.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    return [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]


def assert_same_results(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Same ids, order, errors and flags; probabilities equal up to batch-padding noise."""
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert [bool(r["error"]) for r in got] == [bool(r["error"]) for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert a["error"] == b["error"]
        for key in ("p_violent_call", "p_propaganda"):
            if b.get(key) not in (None, ""):
                assert float(a[key]) == pytest.approx(float(b[key]), abs=1e-4)
                if abs(float(b[key]) - 0.5) > 1e-3:  # not on the threshold's edge
                    assert a["flagged"] == b["flagged"]


def _interrupt_input_after(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Make the reader raise KeyboardInterrupt after ``after`` records, as Ctrl-C would mid-read."""
    import raqib.readers

    real = raqib.readers.read_posts

    class Interrupting:
        def __init__(self, reader: Any) -> None:
            self._reader = reader
            self._left = after

        def __getattr__(self, name: str) -> Any:
            return getattr(self._reader, name)

        def __iter__(self) -> Iterator[Any]:
            return self

        def __next__(self) -> Any:
            if self._left == 0:
                raise KeyboardInterrupt
            self._left -= 1
            return next(self._reader)

        def __enter__(self) -> Interrupting:
            return self

        def __exit__(self, *exc: object) -> None:
            self._reader.close()

    monkeypatch.setattr(raqib.readers, "read_posts", lambda *a, **kw: Interrupting(real(*a, **kw)))


def _interrupt_writer_at(monkeypatch: pytest.MonkeyPatch, cls: type, call: int) -> None:
    """Make the writer's ``call``-th write raise KeyboardInterrupt, as Ctrl-C would mid-write."""
    real = cls.write_one
    calls = {"n": 0}

    def write_one(self: Any, score: Any) -> None:
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        real(self, score)

    monkeypatch.setattr(cls, "write_one", write_one)


# ---------------------------------------------------------------------------------------------- forward pass
def _poison_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every classifier the CLI loads gets a forward pass that raises for any batch holding POISON."""
    from raqib.classifier import Classifier

    real = raqib.load

    def load(name_or_path: str | None = None, **kw: Any) -> Any:
        clf: Classifier = real(name_or_path, **kw)
        poison = clf.tokenizer.convert_tokens_to_ids(POISON)
        forward = clf.model.forward

        def flaky(input_ids: Any = None, attention_mask: Any = None, **fkw: Any) -> Any:
            if (input_ids == poison).any():
                raise RuntimeError("simulated device failure")
            return forward(input_ids=input_ids, attention_mask=attention_mask, **fkw)

        clf.model.forward = flaky
        return clf

    monkeypatch.setattr(raqib, "load", load)


def test_faults_failed_forward_pass_gives_error_records_in_place_and_the_run_goes_on(
    tmp_path: Path, tiny_model_dir: Path, loads: list[Any], monkeypatch: pytest.MonkeyPatch, caplog
):
    poison = {5, 6, 30}
    src = _input(tmp_path, 48, bad_every=0, poison=poison)
    _poison_forward(monkeypatch)
    out = tmp_path / "scores.jsonl"
    assert _score(src, out, tiny_model_dir) == 0
    records = _records(out)
    assert [r["id"] for r in records] == [f"p{i}" for i in range(48)], "every post, in order"
    failed = {i for i, r in enumerate(records) if r["error"]}
    assert poison <= failed
    assert all(
        "scoring failed: RuntimeError: simulated device failure" in records[i]["error"] for i in failed
    )
    assert len(failed) <= 4 * len(poison), "only the failed batches' posts"
    assert all(records[i]["p_violent_call"] is not None for i in set(range(48)) - failed)
    assert "simulated device failure" in caplog.text  # and logged
    assert _score(src, tmp_path / "strict.jsonl", tiny_model_dir, "--strict") == 1


def test_faults_failed_forward_pass_in_raqib_stream(
    tiny_model_dir: Path, loads: list[Any], monkeypatch: pytest.MonkeyPatch, capsys
):
    lines = _posts(20, bad_every=0, poison={9})
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(lines).encode())))
    _poison_forward(monkeypatch)
    assert main(["stream", "--model", str(tiny_model_dir), "--batch-size", "4"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in records] == [f"p{i}" for i in range(20)]
    assert "simulated device failure" in records[9]["error"]
    assert sum(bool(r["error"]) for r in records) <= 4


# ---------------------------------------------------------------------------------------------- Ctrl-C
@pytest.fixture
def uninterrupted(tmp_path: Path, tiny_model_dir: Path, loads: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The reference: each output format written by a run nobody interrupted."""
    src = _input(tmp_path)
    reference = {}
    for suffix in (".jsonl", ".csv"):
        out = tmp_path / f"reference{suffix}"
        assert _score(src, out, tiny_model_dir) == 0
        reference[suffix] = _records(out)
    assert len(reference[".jsonl"]) == 60 and sum(bool(r["error"]) for r in reference[".jsonl"]) == 9
    return reference


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_faults_ctrl_c_while_reading_exits_130_with_complete_records_then_resumes(
    tmp_path: Path,
    tiny_model_dir: Path,
    uninterrupted: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    suffix: str,
):
    src, out = tmp_path / "posts.jsonl", tmp_path / f"scores{suffix}"
    with monkeypatch.context() as m:
        _interrupt_input_after(m, 23)
        assert _score(src, out, tiny_model_dir) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    partial = _records(out)
    assert [r["id"] for r in partial] == [r["id"] for r in uninterrupted[suffix][:23]]

    assert _score(src, out, tiny_model_dir, "--resume") == 0
    assert_same_results(_records(out), uninterrupted[suffix])
    assert "resumed: 23 records were already in" in capsys.readouterr().err


@pytest.mark.parametrize(("suffix", "writer"), [(".jsonl", "JsonlWriter"), (".csv", "CsvWriter")])
def test_faults_ctrl_c_while_writing_exits_130_with_complete_records_then_resumes(
    tmp_path: Path,
    tiny_model_dir: Path,
    uninterrupted: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    writer: str,
):
    import raqib.writers

    src, out = tmp_path / "posts.jsonl", tmp_path / f"scores{suffix}"
    with monkeypatch.context() as m:
        _interrupt_writer_at(m, getattr(raqib.writers, writer), 38)
        assert _score(src, out, tiny_model_dir) == 130
    assert len(_records(out)) == 37
    assert _score(src, out, tiny_model_dir, "--resume") == 0
    assert_same_results(_records(out), uninterrupted[suffix])


# ---------------------------------------------------------------------------------------------- --resume
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@pytest.mark.parametrize("where", ["mid-record", "mid-character", "record-end", "empty", "header-only"])
def test_faults_resume_after_a_torn_last_record_equals_an_uninterrupted_run(
    tmp_path: Path, tiny_model_dir: Path, uninterrupted: dict[str, Any], suffix: str, where: str
):
    src, out = tmp_path / "posts.jsonl", tmp_path / f"scores{suffix}"
    full = (tmp_path / f"reference{suffix}").read_bytes()
    ends = [i + 1 for i, byte in enumerate(full) if byte == ord("\n")]  # JSONL records; CSV: the header first
    cut = {
        "mid-record": (ends[20] + ends[21]) // 2,
        "mid-character": full.index("قناة".encode(), ends[30]) + 1,
        "record-end": ends[40],
        "empty": 0,
        "header-only": ends[0] if suffix == ".csv" else 3,
    }[where]
    out.write_bytes(full[:cut])
    assert _score(src, out, tiny_model_dir, "--resume") == 0
    assert_same_results(_records(out), uninterrupted[suffix])


def test_faults_resume_of_a_finished_or_missing_output(
    tmp_path: Path, tiny_model_dir: Path, uninterrupted: dict[str, Any], capsys
):
    src, done = tmp_path / "posts.jsonl", tmp_path / "reference.jsonl"
    before = done.read_bytes()
    assert _score(src, done, tiny_model_dir, "--resume") == 0
    assert done.read_bytes() == before, "nothing left to score: the file is unchanged"
    err = capsys.readouterr().err
    assert "resumed: 60 records" in err and "error records" in err
    missing = tmp_path / "new" / "scores.jsonl"
    assert _score(src, missing, tiny_model_dir, "--resume") == 0
    assert_same_results(_records(missing), uninterrupted[".jsonl"])


def test_faults_without_resume_an_existing_output_is_overwritten(
    tmp_path: Path, tiny_model_dir: Path, uninterrupted: dict[str, Any]
):
    out = tmp_path / "scores.jsonl"
    out.write_text('{"id": "old"}\n{"torn', encoding="utf-8")
    assert _score(tmp_path / "posts.jsonl", out, tiny_model_dir) == 0
    assert_same_results(_records(out), uninterrupted[".jsonl"])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("parquet", "a Parquet file is only readable once complete"),
        ("stdout", "give it with -o"),
        ("other-input", "it is not this input's output"),
        ("longer-than-input", "has only 20"),
        ("corrupt-middle", "line 3 is not a raqib result record"),
        ("thresholds", "use the same --threshold options"),
        ("csv-columns", "are not this model's"),
    ],
)
def test_faults_resume_refuses_what_it_cannot_continue(
    tmp_path: Path, tiny_model_dir: Path, uninterrupted: dict[str, Any], capsys, case: str, message: str
):
    src, reference = tmp_path / "posts.jsonl", (tmp_path / "reference.jsonl").read_text(encoding="utf-8")
    lines = reference.splitlines(keepends=True)
    out = tmp_path / "scores.jsonl"
    extra: list[str] = []
    if case == "parquet":
        out = tmp_path / "scores.parquet"
    elif case == "stdout":
        out = Path("-")
    elif case == "other-input":
        src = tmp_path / "other.jsonl"
        src.write_text("".join(f'{{"id": "q{i}", "text": "نص"}}\n' for i in range(60)), encoding="utf-8")
        out.write_text("".join(lines[:10]), encoding="utf-8")
    elif case == "longer-than-input":
        (tmp_path / "short").mkdir()
        src = _input(tmp_path / "short", 20)
        out.write_text("".join(lines[:30]), encoding="utf-8")
    elif case == "corrupt-middle":
        out.write_text("".join(lines[:2]) + "garbage\n" + "".join(lines[3:10]), encoding="utf-8")
    elif case == "thresholds":
        out.write_text("".join(lines[:10]), encoding="utf-8")
        extra = ["--threshold", "0.7"]
    elif case == "csv-columns":
        out = tmp_path / "scores.csv"
        out.write_text("id,text\r\np0,x\r\n", encoding="utf-8")
    before = out.read_bytes() if out.is_file() else None
    assert _score(src, out, tiny_model_dir, "--resume", *extra) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    if before is not None:
        assert out.read_bytes() == before, "a refused resume changes nothing"


def test_faults_resume_is_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--resume" in help_text and "an existing OUT is overwritten" in help_text


# ---------------------------------------------------------------------------------------------- full disk
needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


@needs_dev_full
@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_faults_full_disk_is_one_line_naming_the_file(
    tmp_path: Path, tiny_model_dir: Path, loads: list[Any], capsys, suffix: str
):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    src = _input(tmp_path, 200)
    out = tmp_path / f"scores{suffix}"
    out.symlink_to("/dev/full")
    assert _score(src, out, tiny_model_dir) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"raqib: error: cannot write {out}: No space left on device"]


def test_faults_disk_filling_up_mid_run(
    tmp_path: Path, tiny_model_dir: Path, loads: list[Any], monkeypatch: pytest.MonkeyPatch, capsys
):
    """ENOSPC at the 5th flush, after records were written: exit 1, one line, OUT holds whole records."""
    import errno

    import raqib.writers

    real_open = open
    flushes = {"n": 0}

    class FillingUp(io.TextIOWrapper):
        def flush(self) -> None:
            flushes["n"] += 1
            if flushes["n"] >= 5:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            super().flush()

    def fake_open(name: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if str(name).endswith("scores.jsonl") and "w" in mode:
            return FillingUp(real_open(name, "wb"), encoding="utf-8", newline="", write_through=False)
        return real_open(name, mode, *args, **kw)

    monkeypatch.setattr(raqib.writers, "open", fake_open, raising=False)
    out = tmp_path / "scores.jsonl"
    assert _score(_input(tmp_path, 100), out, tiny_model_dir) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"raqib: error: cannot write {out}: No space left on device"
    ]
    assert len(_records(out)) == 16, "the four batches flushed before the disk filled up"


@needs_dev_full
@pytest.mark.parametrize("command", ["score", "stream"])
def test_faults_full_disk_on_stdout(
    tmp_path: Path,
    tiny_model_dir: Path,
    loads: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    command: str,
):
    src = _input(tmp_path, 50)
    full = open("/dev/full", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        monkeypatch.setattr(sys, "stdout", full)
        if command == "stream":
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(src.read_bytes())))
            argv = ["stream", "--model", str(tiny_model_dir)]
        else:
            argv = ["score", str(src), "--model", str(tiny_model_dir), "--no-progress"]
        assert main(argv) == 1
    finally:
        monkeypatch.undo()
        try:
            full.close()
        except OSError:
            pass
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "raqib: error: cannot write stdout: No space left on device"
    )


# ---------------------------------------------------------------------------------------------- raqib stream
def test_faults_ctrl_c_in_raqib_stream_exits_130_with_complete_lines(
    tiny_model_dir: Path, loads: list[Any], monkeypatch: pytest.MonkeyPatch, capsys
):
    lines = _posts(30)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(lines).encode())))
    _interrupt_input_after(monkeypatch, 17)
    assert main(["stream", "--model", str(tiny_model_dir), "--batch-size", "4"]) == 130
    captured = capsys.readouterr()
    assert captured.out.endswith("\n")
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["id"] for r in records] == [None if i % 7 == 3 and i % 2 else f"p{i}" for i in range(17)]
    assert "interrupted" in captured.err


# ---------------------------------------------------------------------------------------------- killed
@pytest.mark.slow
def test_faults_killed_mid_run_leaves_complete_records_and_resumes(tmp_path: Path, tiny_model_dir: Path):
    """SIGKILL (no cleanup at all): OUT holds whole records and at most one torn line; --resume ends it."""
    src = tmp_path / "big.jsonl"
    src.write_text("".join(line + "\n" for line in _posts(20_000)), encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-m",
        "raqib",
        "score",
        str(src),
        "-o",
        str(out),
        "--model",
        str(tiny_model_dir),
        "--device",
        "cpu",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    proc = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while (not out.exists() or out.stat().st_size < 50_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    data = out.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].decode("utf-8").split("\n")[:-1]
    assert all(json.loads(line) for line in complete) and 0 < len(complete) < 20_000
    assert (
        main(
            [
                "score",
                str(src),
                "-o",
                str(out),
                "--model",
                str(tiny_model_dir),
                "--device",
                "cpu",
                "--batch-size",
                "4",
                "--no-progress",
                "--resume",
            ]
        )
        == 0
    )
    records = _records(out)
    assert [r["id"] for r in records] == [
        f"p{i}" if i % 7 != 3 or i % 2 == 0 else None for i in range(20_000)
    ]


# ---------------------------------------------------------------------------------------------- soak
@pytest.mark.slow
def test_faults_soak_small(tmp_path: Path):
    """benchmarks/soak.py at 20,000 posts: counts in = counts out, order, errors = bad records, flat RSS."""
    spec = importlib.util.spec_from_file_location("soak", REPO / "benchmarks" / "soak.py")
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    report = soak.run(n=20_000, workdir=tmp_path, batch_size=64)
    for run in report["runs"]:
        assert run["ok"], run
