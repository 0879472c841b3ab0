"""Fuzz every reader for a fixed time (issue 9): the test suite's fuzzers, run for minutes instead of seconds.

    python benchmarks/fuzz_readers.py [--seconds 120] [--readers telegram,jsonl,csv,tsv,text] [--seed 0]
                                      [--crashes out/fuzz]
    make fuzz                                   # 2 minutes per reader; FUZZ_SECONDS=600 make fuzz for longer

Each reader gets the inputs of ``tests/test_fuzz_readers.py`` (random bytes, generated exports / JSON Lines /
CSV / text with fields of every type, and those files cut, spliced with bytes that break parsers, or
bit-flipped) and every input is held to that file's contract (`check_reader`: only Posts and BadRecords
naming their position, or a ReaderError; everything writable; counts right). Hypothesis generates in
rounds of ``--round`` inputs with a new seed each round. An input that breaks the contract is shrunk,
saved under ``--crashes`` (one file per distinct failure, named by reader and hash) and reported; turn
it into a regression test by copying it to ``tests/data/fuzz_regressions/`` and adding a
``test_issue_9_<what>`` beside the others. Prints inputs tried and crashes found per reader; exits 1
if there were any.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def fuzz_reader(fmt: str, seconds: float, *, seed: int, round_size: int, crashes: Path) -> dict[str, Any]:
    """Fuzz one reader for ``seconds``: inputs tried and the distinct crashes (saved to ``crashes``)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed

    import test_fuzz_readers as fz

    strategy = fz.fuzz_inputs(fmt)
    deadline = time.monotonic() + seconds
    tried = 0
    found: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix=f"raqib-fuzz-{fmt}-"))
    rounds = 0
    while time.monotonic() < deadline:
        failing: list[tuple[bytes, BaseException]] = []

        @settings(
            max_examples=round_size,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(data=strategy)
        @with_seed(seed * 1_000_003 + rounds)
        def target(data: bytes) -> None:
            nonlocal tried
            if time.monotonic() >= deadline:
                return  # let the round end quickly once time is up
            tried += 1
            try:
                fz.check_reader(data, fmt, work / f"input{fz.SUFFIX[fmt]}")
            except Exception as exc:
                failing.append((data, exc))
                raise

        try:
            target()
        except Exception:  # noqa: BLE001 - a crash: recorded below, and the fuzzing goes on
            pass
        for data, exc in failing:
            key = _signature(exc)
            if key not in found or len(data) < len(found[key]["input"]):
                found[key] = {"input": data, "error": f"{type(exc).__name__}: {exc}"[:300]}
        rounds += 1
    for key, crash in found.items():
        name = f"{fmt}-{hashlib.sha1(crash['input']).hexdigest()[:12]}{fz.SUFFIX[fmt]}"
        crashes.mkdir(parents=True, exist_ok=True)
        (crashes / name).write_bytes(crash["input"])
        crash["file"] = str(crashes / name)
        crash["where"] = key
    return {"reader": fmt, "tried": tried, "rounds": rounds, "crashes": list(found.values())}


def _signature(exc: BaseException) -> str:
    """Where a failure happened (exception type and innermost raqib frame): one entry per distinct bug."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/raqib/" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="time per reader (default: %(default)s)")
    parser.add_argument(
        "--readers", default="telegram,jsonl,csv,tsv,text", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed; rounds derive theirs from it")
    parser.add_argument("--round", type=int, default=2000, help="inputs per hypothesis round")
    parser.add_argument("--crashes", type=Path, default=REPO / "out" / "fuzz", help="where crash inputs go")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # a corrupt export logs a warning per input: not news here
    results = []
    for fmt in args.readers.split(","):
        start = time.monotonic()
        result = fuzz_reader(fmt, args.seconds, seed=args.seed, round_size=args.round, crashes=args.crashes)
        elapsed = time.monotonic() - start
        results.append(result)
        print(
            f"{fmt:<9} {result['tried']:>9,} inputs in {elapsed:6.1f} s "
            f"({result['tried'] / elapsed:,.0f}/s), "
            f"{len(result['crashes'])} crashes",
            flush=True,
        )
        for crash in result["crashes"]:
            print(f"    {crash['where']}: {crash['error']}\n    input saved to {crash['file']}")
    total = sum(r["tried"] for r in results)
    n_crashes = sum(len(r["crashes"]) for r in results)
    print(f"total     {total:>9,} inputs, {n_crashes} crashes")
    return 1 if n_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
