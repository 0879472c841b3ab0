"""Unpack device-trained model dirs and point them at the offline base they were trained on (pruned copy of it).

usage: assemble.py FILES_DIR OUT_DIR  -> OUT_DIR/<job>/ (complete raqib model directories)
"""
import json
import sys
import tarfile
from pathlib import Path

from raqib.backbone import E5_SHA256, E5_SMALL

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for t in sorted(src.glob("models*.tar")):
    with tarfile.open(t) as tar:
        tar.extractall(dst, filter="data")
for cfg_path in sorted(dst.glob("*/config.json")):
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["raqib"]["base"] = {"name": E5_SMALL, "sha256": E5_SHA256}
    cfg["_name_or_path"] = "/root/.cache/raqib/e5-small-1"
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tr_path = cfg_path.with_name("training.json")
    tr = json.loads(tr_path.read_text(encoding="utf-8"))
    tr["config"]["base_model"] = E5_SMALL
    tr_path.write_text(json.dumps(tr, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("assembled", cfg_path.parent)
