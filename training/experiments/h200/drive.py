"""Run the job grid concurrently on the one GPU, stop at a deadline, pack what finished into $OUT."""
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

DEADLINE = float(sys.argv[1])
JOBS = json.loads(Path(sys.argv[2]).read_text())
OUT = Path(os.environ["OUT"])
start = time.time()
Path("/tmp/models").mkdir(exist_ok=True)
Path("/tmp/probs").mkdir(exist_ok=True)
logs = Path("/tmp/logs"); logs.mkdir(exist_ok=True)
env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
procs = {}
for j in JOBS:
    args = [sys.executable, ".gpu/carry/job.py", j["name"], j["recipe"], str(j["epochs"]), str(j["seed"]),
            json.dumps(j.get("extra", {}))]
    procs[j["name"]] = subprocess.Popen(args, stdout=open(logs / f"{j['name']}.log", "w"), stderr=subprocess.STDOUT,
                                        env=env)

SCORE_S = float(os.environ.get("SCORE_S", 75))  # validation + suite scoring after training, per job (all at once)


def progress(n: str) -> tuple[int, int]:
    found = re.findall(r"(\d+)/(\d+) \[", (logs / f"{n}.log").read_text(errors="replace")[-3000:])
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 1)


checks = json.loads(os.environ.get("CHECKS", "[100, 180, 260]"))
last = {}
while time.time() - start < DEADLINE and any(p.poll() is None for p in procs.values()):
    time.sleep(10)
    t = time.time() - start
    running = [n for n, p in procs.items() if p.poll() is None]
    prog = {n: progress(n) for n in running}
    print(f"{t:5.0f}s running " + " ".join(f"{n}:{a}/{b}" for n, (a, b) in prog.items()), flush=True)
    if checks and t >= checks[0]:
        checks.pop(0)
        os.system("nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader")
        training = [n for n in running if prog[n][0] < prog[n][1]]
        if last:
            rate = sum(prog[n][0] - last.get(n, (0, 0))[0] for n in prog) / (t - last_t)
            while training and rate > 0:
                left = sum(prog[n][1] - prog[n][0] for n in training)
                if t + left / rate + SCORE_S <= DEADLINE:
                    break
                victim = training.pop()  # the lowest priority still training
                print(f"projected {t + left / rate + SCORE_S:.0f}s > {DEADLINE}s: stopping {victim}", flush=True)
                procs[victim].kill()
        last, last_t = prog, t
for n, p in procs.items():
    if p.poll() is None:
        print("killing", n, flush=True)
        p.kill()
done = [j["name"] for j in JOBS if (Path("/tmp/probs") / f"{j['name']}.json").is_file()]
print("done", done, flush=True)
probs = {n: json.loads((Path("/tmp/probs") / f"{n}.json").read_text()) for n in done}
(OUT / "probs.json").write_text(json.dumps(probs))
with open(OUT / "logs.txt", "w") as fh:
    for j in JOBS:
        fh.write((logs / f"{j['name']}.log").read_text(errors="replace")[-6000:] + "\n\n")
for k in range(0, len(done), 2):
    with tarfile.open(OUT / f"models{k // 2}.tar", "w") as tar:
        for n in done[k:k + 2]:
            tar.add(f"/tmp/models/{n}", arcname=n)
print("packed", os.listdir(OUT), f"{time.time() - start:.0f}s", flush=True)
