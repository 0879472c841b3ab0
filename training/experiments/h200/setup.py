"""Unpack the carried data and build the (pruned) base model directory on the device."""
import lzma
import shutil
import time
from pathlib import Path

t0 = time.time()
here = Path(__file__).parent
data = Path("/tmp/data")
data.mkdir(exist_ok=True)
for f in (here / "data").glob("*.xz"):
    with lzma.open(f) as src, open(data / f.name[:-3], "wb") as dst:
        shutil.copyfileobj(src, dst)
with lzma.open(here / "e5-pruned.bin.xz") as src, open("/tmp/e5.bin", "wb") as dst:
    shutil.copyfileobj(src, dst)
from raqib.backbone import convert_e5  # noqa: E402

convert_e5(Path("/tmp/e5.bin"), Path("/tmp/e5"))
print(f"setup {time.time() - t0:.0f}s", sorted(p.name for p in data.iterdir()), flush=True)
