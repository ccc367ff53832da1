"""Training-step time with and without ``fakedamage.utils.memory.tune_malloc``, side by side.

    python scripts/benchmark_malloc.py [--steps 5] [--batch 32] [--tile 128]

Each setting runs in its own process (allocator settings are per process): the default glibc
thresholds, then tuned ones. Prints the median step time of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
tuned, steps, batch, tile = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if tuned:
    from fakedamage.utils.memory import tune_malloc
    assert tune_malloc(), "mallopt not available"
import torch
from fakedamage.models import create_detector
torch.manual_seed(0)
model = create_detector("tf_efficientnet_lite0")
x = torch.rand(batch, 3, tile, tile)
times = []
for _ in range(steps + 1):
    t = time.perf_counter()
    logit, mask = model(x)
    (logit.sum() + mask.sum()).backward()
    times.append(time.perf_counter() - t)
print(json.dumps({"median_s": statistics.median(times[1:])}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tile", type=int, default=128)
    a = ap.parse_args()
    res = {}
    for tuned in (0, 1):
        out = subprocess.run([sys.executable, "-c", CHILD, str(tuned), str(a.steps), str(a.batch), str(a.tile)],
                             capture_output=True, text=True, check=True).stdout
        res[tuned] = json.loads(out.strip().splitlines()[-1])["median_s"]
    print(f"tf_efficientnet_lite0 train step, {a.batch} tiles of {a.tile} px, median of {a.steps}:")
    print(f"  glibc defaults  {res[0]:.3f} s")
    print(f"  tune_malloc     {res[1]:.3f} s")
    print(f"  speed-up        {res[0] / res[1]:.1f}x")


if __name__ == "__main__":
    main()
