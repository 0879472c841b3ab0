"""Soak test (issue 9): a million synthetic posts, 1% of them bad, through `raqib stream` and `raqib score`.

    python benchmarks/soak.py [--posts 1000000] [--bad-rate 0.01] [--batch-size 64] [--workdir DIR]
    make soak                                   # the same, with the defaults
    python benchmarks/soak.py --model raqib-ar-v1 --distinct 20000   # the shipped model, reposted texts

Builds a tiny random model (the test suite's `build_tiny_encoder` + `make_tiny_classifier`: the point is
the plumbing, not the scores), writes N JSON Lines posts (mostly short Arabic-like strings, some long
enough to need several windows) of which ``--bad-rate`` are bad records (invalid JSON, a number or a list
as text, bytes that are not UTF-8), then runs, each in its own process,

  raqib stream --model M < posts.jsonl > stream.jsonl
  raqib score posts.jsonl -o score.jsonl --model M

sampling each process's resident memory every ``--sample-s`` seconds. It checks that results out equal
records in, that the ids come back in input order, that the error records are exactly the bad records,
and that memory stays flat: while results are written (after model loading and a tenth of the scoring
time as warm-up), the peak RSS of the second half is within ``--rss-slack-mb`` of the first half's. The
classifier's duplicate cache (65,536 texts) fills during the first ~65,000 posts, so runs much shorter
than that show it growing. It prints the numbers and exits 1 if any check fails.

``--model`` runs a real model instead (at ~150 posts/s a million distinct posts take hours on two cores);
``--distinct N`` then draws the posts from N distinct texts, so the model computes N of them and the duplicate
cache answers the rest, while every post is still read, normalised, looked up and written.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from itertools import zip_longest
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORDS = (
    "سوف اقتل يا شباب الدولة الاسلامية باقية الخلافة جنود بايعنا امير المؤمنين الحمد لله صباح الخير الطقس "
    "جميل اليوم المباراة فاز الفريق اعتقلت قوات الامن خلية ندين الارهاب هجوم سكين قناة خبر عاجل"
).split()
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def build_model(workdir: Path) -> Path:
    """The test suite's tiny random model, saved as a complete model directory."""
    target = workdir / "tiny-model"
    if (target / "config.json").is_file():
        return target
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import build_tiny_encoder, make_tiny_classifier

    return make_tiny_classifier(build_tiny_encoder(workdir / "encoder")).save(target)


def write_posts(path: Path, n: int, bad_rate: float, seed: int = 0, distinct: int = 0) -> int:
    """N lines of JSON Lines posts (drawn from ``distinct`` texts when > 0); returns the bad count."""
    rng = random.Random(seed)
    texts = [_text(rng) for _ in range(distinct)]
    bad = 0
    with path.open("wb") as f:
        block: list[bytes] = []
        for i in range(n):
            if rng.random() < bad_rate:
                bad += 1
                kind = i % 4
                line = (
                    b'{"id": "p%d", "text": "\xd8 broken' % i
                    if kind == 0  # invalid JSON and UTF-8
                    else b'{"id": "p%d", "text": %d}' % (i, i)
                    if kind == 1  # a number as text
                    else b'{"id": "p%d", "text": ["a", 1]}' % i
                    if kind == 2  # a list as text
                    else b'{"id": "p%d", "text": "\xff\xfe"}' % i  # not UTF-8
                )
            else:
                text = rng.choice(texts) if texts else _text(rng)
                record = {"id": f"p{i}", "text": text, "channel": f"قناة {i % 50}"}
                line = json.dumps(record, ensure_ascii=False).encode("utf-8")
            block.append(line + b"\n")
            if len(block) == 10_000:
                f.write(b"".join(block))
                block.clear()
        f.write(b"".join(block))
    return bad


def _text(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.choice((3, 5, 8, 12, 40)))
    words.append("".join(rng.choices(LETTERS, k=rng.randint(2, 7))))
    return " ".join(words)


def expected_ids(path: Path) -> Any:
    """(id, is_bad) per input line, read back from the input itself (so nothing is held in memory)."""
    with path.open("rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:  # invalid JSON or UTF-8: no id can be read
                yield None, True
                continue
            yield record["id"], not isinstance(record["text"], str)


class RssSampler(threading.Thread):
    """Samples a process's resident memory (``/proc/PID/status``) and its output's size every ``every`` s."""

    def __init__(self, pid: int, every: float, output: Path) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.output = output
        self.samples: list[tuple[float, float, int]] = []
        """(seconds since start, RSS in MB, output bytes so far)"""
        self.peak_mb = 0.0
        self._halt = threading.Event()
        self._start = time.monotonic()

    def run(self) -> None:
        while not self._halt.is_set():
            rss, hwm = _status(self.pid)
            if rss is not None:
                written = self.output.stat().st_size if self.output.exists() else 0
                self.samples.append((time.monotonic() - self._start, rss, written))
                self.peak_mb = max(self.peak_mb, hwm or rss)
            self._halt.wait(self.every)

    def scoring_rss(self) -> list[float]:
        """RSS while results were being written, less the first tenth of that time (warm-up)."""
        scoring = [(t, mb) for t, mb, written in self.samples if written > 0]
        if not scoring:
            return []
        start, end = scoring[0][0], scoring[-1][0]
        return [mb for t, mb in scoring if t >= start + 0.1 * (end - start)]

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _status(pid: int) -> tuple[float | None, float | None]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None, None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS"), values.get("VmHWM")


def run_command(
    name: str, args: list[str], *, stdin: Path | None, stdout: Path, results: Path, sample_s: float
) -> dict[str, Any]:
    """Run one raqib command, sampling its memory; returns its exit code, time and memory profile."""
    start = time.monotonic()
    with (
        stdin.open("rb") if stdin else open(os.devnull, "rb") as fin,
        stdout.open("wb") as fout,
        stdout.with_suffix(".stderr").open("wb") as ferr,
    ):
        proc = subprocess.Popen([sys.executable, "-m", "raqib", *args], stdin=fin, stdout=fout, stderr=ferr)
        sampler = RssSampler(proc.pid, sample_s, results)
        sampler.start()
        code = proc.wait()
        sampler.stop()
    seconds = time.monotonic() - start
    samples = sampler.scoring_rss()  # not start-up and model loading
    half = len(samples) // 2
    first, second = (max(samples[:half]), max(samples[half:])) if half else (0.0, 0.0)
    return {
        "command": name,
        "exit_code": code,
        "seconds": seconds,
        "rss_first_half_mb": first,
        "rss_second_half_mb": second,
        "rss_peak_mb": sampler.peak_mb,
        "rss_samples": len(samples),
        "stderr": stdout.with_suffix(".stderr").read_text(encoding="utf-8", errors="replace")[-2000:],
    }


def check_output(posts: Path, results: Path, bad: int) -> dict[str, Any]:
    """Counts in = counts out, ids in input order, error records = bad records (streamed, bounded memory)."""
    n_in = n_out = errors = mismatched = errors_not_bad = 0
    first_mismatch = None
    with results.open("rb") as out:
        for expected, line in zip_longest(expected_ids(posts), out):
            n_in += expected is not None
            n_out += line is not None
            if expected is None or line is None:
                continue
            want, is_bad = expected
            record = json.loads(line)
            errors += record["error"] is not None
            if record["id"] != want:
                mismatched += 1
                first_mismatch = first_mismatch or (n_in, want, record["id"])
            errors_not_bad += (record["error"] is not None) != is_bad
    return {
        "posts_in": n_in,
        "results_out": n_out,
        "error_records": errors,
        "bad_records_in": bad,
        "ids_out_of_order": mismatched,
        "first_mismatch": first_mismatch,
        "errors_that_are_not_bad_records": errors_not_bad,
    }


def run(
    n: int = 1_000_000,
    *,
    bad_rate: float = 0.01,
    batch_size: int = 64,
    workdir: Path | None = None,
    sample_s: float = 0.5,
    rss_slack_mb: float = 48.0,
    model: str | None = None,
    distinct: int = 0,
) -> dict[str, Any]:
    """Generate, run `stream` and `score`, check; returns every number (``runs[i]["ok"]`` per command)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="raqib-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    model = model or build_model(workdir)
    posts = workdir / "posts.jsonl"
    start = time.monotonic()
    bad = write_posts(posts, n, bad_rate, distinct=distinct)
    report: dict[str, Any] = {
        "model": str(model),
        "distinct": distinct,
        "posts": n,
        "bad": bad,
        "input_mb": posts.stat().st_size / 2**20,
        "generate_s": time.monotonic() - start,
        "runs": [],
    }
    common = ["--model", str(model), "--device", "cpu", "--batch-size", str(batch_size)]
    scored = workdir / "score.jsonl"
    commands = [  # name, arguments, stdin, stdout, results
        ("stream", ["stream", *common], posts, workdir / "stream.jsonl", workdir / "stream.jsonl"),
        (
            "score",
            ["score", str(posts), "-o", str(scored), "--no-progress", *common],
            None,
            workdir / "score.stdout",
            scored,
        ),
    ]
    for name, args, stdin, stdout, results in commands:
        result = run_command(name, args, stdin=stdin, stdout=stdout, results=results, sample_s=sample_s)
        result.update(check_output(posts, results, bad))
        growth = result["rss_second_half_mb"] - result["rss_first_half_mb"]
        result["rss_growth_mb"] = growth
        result["ok"] = (
            result["exit_code"] == 0
            and result["posts_in"] == result["results_out"] == n
            and result["ids_out_of_order"] == 0
            and result["error_records"] == bad
            and result["errors_that_are_not_bad_records"] == 0
            and growth <= rss_slack_mb
        )
        result["posts_per_s"] = n / result["seconds"]
        report["runs"].append(result)
    return report


def print_report(report: dict[str, Any]) -> None:
    drawn = f" drawn from {report['distinct']:,} texts" if report["distinct"] else ""
    print(
        f"soak: {report['posts']:,} posts{drawn} ({report['input_mb']:.0f} MB of JSON Lines), "
        f"model {report['model']}, "
        f"{report['bad']:,} bad records, generated in {report['generate_s']:.1f} s"
    )
    for r in report["runs"]:
        print(
            f"  raqib {r['command']:<6}  {'OK  ' if r['ok'] else 'FAIL'}  in {r['posts_in']:,}  out "
            f"{r['results_out']:,}  error records {r['error_records']:,} (bad {r['bad_records_in']:,})  "
            f"out of order {r['ids_out_of_order']:,}  {r['seconds']:.1f} s "
            f"({r['posts_per_s']:,.0f} posts/s)  "
            f"RSS max first half {r['rss_first_half_mb']:.0f} MB, "
            f"second half {r['rss_second_half_mb']:.0f} MB "
            f"(growth {r['rss_growth_mb']:+.1f} MB), peak {r['rss_peak_mb']:.0f} MB, "
            f"{r['rss_samples']} samples"
        )
        if not r["ok"]:
            print(
                f"    exit code {r['exit_code']}; first mismatch {r['first_mismatch']}; "
                f"stderr:\n{r['stderr']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--posts", type=int, default=1_000_000, help="posts to generate (default: %(default)s)"
    )
    parser.add_argument(
        "--bad-rate", type=float, default=0.01, help="share of bad records (default: %(default)s)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="scoring batch size (default: %(default)s)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the model, posts and outputs go (default: a temp dir)"
    )
    parser.add_argument(
        "--sample-s", type=float, default=0.5, help="RSS sampling interval (default: %(default)s)"
    )
    parser.add_argument(
        "--rss-slack-mb",
        type=float,
        default=48.0,
        help="allowed RSS growth, second half vs first (default: %(default)s)",
    )
    parser.add_argument("--model", help="a model name or directory (default: a tiny random model built here)")
    parser.add_argument(
        "--distinct", type=int, default=0, help="draw the posts from this many texts (default: all distinct)"
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    report = run(
        args.posts,
        bad_rate=args.bad_rate,
        batch_size=args.batch_size,
        workdir=args.workdir,
        sample_s=args.sample_s,
        rss_slack_mb=args.rss_slack_mb,
        model=args.model,
        distinct=args.distinct,
    )
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0 if all(r["ok"] for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
