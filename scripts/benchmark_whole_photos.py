#!/usr/bin/env python
"""Whole phone photos: speed, memory and accuracy of the scan, side by side in one run.

    python scripts/benchmark_whole_photos.py --model runs/demo/model.onnx \
        --manifest runs/demo/data/manifest.parquet

1. Speed: p50 seconds of ``Detector.predict`` on a 12 MP phone photo (forensics-samples-files,
   native) and on a 40 MP resampled copy, dense overlapped tiling vs coarse-to-fine.
2. Memory: peak RSS of ``fakedamage predict`` on the 40 MP photo (a fresh process each), next
   to a process that only builds every tile at once the old way (``extract_tiles``).
3. Accuracy: trace AUC (real_damage vs inpaint_pasted) of the manifest's test split, dense
   vs coarse-to-fine, on the same model.
4. Service: 8 concurrent uploads of the 40 MP photo to ``fakedamage serve``; the server's
   peak RSS, the answers, and a normal request afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def _phone_photo() -> Path:
    from PIL import Image

    from fakedamage.data.photos import find_offline_photos

    photos = [p for p in find_offline_photos() if p.name.startswith("forensics/")
              and Image.open(p.path).size[0] * Image.open(p.path).size[1] >= 10e6]
    if not photos:
        raise SystemExit("no 12 MP phone photo found (apt install forensics-samples-files)")
    return Path(photos[0].path)


def _child_peak_rss(cmd: list[str]) -> tuple[float, int]:
    """(peak RSS in MB, return code) of a child process."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, proc.returncode


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/demo/model.onnx")
    ap.add_argument("--manifest", default="runs/demo/data/manifest.parquet")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-service", action="store_true")
    args = ap.parse_args()

    import numpy as np
    from PIL import Image

    from fakedamage.data.photos import load_rgb
    from fakedamage.runtime import Detector
    from fakedamage.whole_photos import resample

    tmp = Path(tempfile.mkdtemp(prefix="fd-whole-"))
    src = _phone_photo()
    native = load_rgb(src)
    p12 = tmp / "phone_12mp.jpg"
    Image.fromarray(native).save(p12, quality=92)
    factor = (39.9e6 / (native.shape[0] * native.shape[1])) ** 0.5
    big = resample(native, factor)
    p40 = tmp / "phone_40mp.jpg"
    Image.fromarray(big).save(p40, quality=92)
    del big
    mp12 = native.shape[0] * native.shape[1] / 1e6
    mp40 = Image.open(p40).size[0] * Image.open(p40).size[1] / 1e6
    print(f"photos: {src} ({mp12:.1f} MP native) and a {mp40:.1f} MP bicubic upscale, JPEG q92; "
          f"{os.cpu_count()} cores, ORT threads {args.threads}")

    det = Detector(args.model, providers=["CPUExecutionProvider"], threads=args.threads)
    print(f"model: {args.model} (tile {det.meta.tile_size}, stride {det.meta.tile_stride}, scan in file: "
          f"{det.meta.scan})\n")

    # 1. speed --------------------------------------------------------------------------
    print("1. speed: seconds per photo (decode + scan), p50 of", args.runs)
    print(f"   {'photo':<8} {'dense':>8} {'coarse_to_fine':>15} {'ratio':>7} {'tiles dense / c2f':>20}")
    for label, path in (("12 MP", p12), ("40 MP", p40)):
        row = {}
        for scan in ("dense", "coarse_to_fine"):
            times = []
            for _ in range(args.runs if label == "12 MP" else max(1, args.runs // 2)):
                t0 = time.perf_counter()
                image = load_rgb(path)
                res = det.scan(image, scan=scan)
                times.append(time.perf_counter() - t0)
                del image
            row[scan] = (statistics.median(times), len(res.logits))
        d, c = row["dense"], row["coarse_to_fine"]
        print(f"   {label:<8} {d[0]:8.2f} {c[0]:15.2f} {d[0] / c[0]:6.1f}x {d[1]:>10} / {c[1]:<8}")

    # 2. memory -------------------------------------------------------------------------
    print("\n2. memory: peak RSS of a fresh process on the 40 MP photo")
    cli = [sys.executable, "-m", "fakedamage", "predict", str(p40), "--model", str(args.model), "--quiet"]
    rss_new, rc = _child_peak_rss(cli)
    old = [sys.executable, "-c", "import sys; sys.path.insert(0, 'src'); from fakedamage.data.photos import load_rgb; "
           "from fakedamage.runtime.tiling import extract_tiles; "
           f"t, o = extract_tiles(load_rgb({str(p40)!r}), {det.meta.tile_size}, {det.meta.tile_stride}); "
           "print(t.shape)"]
    rss_old, _ = _child_peak_rss(old)
    print(f"   fakedamage predict (batched scan, rc {rc}): {rss_new:7.0f} MB")
    print(f"   every tile built at once (old tiling):    {rss_old:7.0f} MB   ratio {rss_old / rss_new:.1f}x")

    # 3. accuracy -----------------------------------------------------------------------
    if Path(args.manifest).is_file():
        from sklearn.metrics import roc_auc_score

        from fakedamage.data.manifest import read_manifest
        from fakedamage.runtime.tiling import sigmoid

        rows = [r for r in read_manifest(args.manifest, splits=["test"])
                if r.variant in ("real_damage", "inpaint_pasted")]
        root = Path(args.manifest).parent
        y = [int(r.variant == "inpaint_pasted") for r in rows]
        out = {}
        for scan in ("dense", "coarse_to_fine"):
            s = [float(sigmoid(det.scan(load_rgb(root / r.path), scan=scan).adjusted)) for r in rows]
            out[scan] = roc_auc_score(y, s)
        print(f"\n3. trace AUC, test split ({len(rows)} crops): dense {out['dense']:.4f}, coarse_to_fine "
              f"{out['coarse_to_fine']:.4f} (difference {out['coarse_to_fine'] - out['dense']:+.4f})")

    # 4. service ------------------------------------------------------------------------
    if not args.skip_service:
        import http.client
        import re
        import uuid

        print("\n4. service: 8 concurrent 40 MP uploads (workers 2, default pixel budget 100 MP)")
        log = open(tmp / "server.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "fakedamage.service", "--model", str(args.model), "--port", "0",
                                 "--workers", "2", "--threads", "1"], cwd=REPO, stdout=subprocess.PIPE, stderr=log,
                                text=True)
        line = proc.stdout.readline()
        m = re.search(r"listening on http://([\d.]+):(\d+)", line)
        host, port = m[1], int(m[2])
        while True:
            try:
                c = http.client.HTTPConnection(host, port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)

        def post(path: Path) -> tuple[int, float]:
            boundary = uuid.uuid4().hex
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
                    f"Content-Type: image/jpeg\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
            t0 = time.perf_counter()
            c = http.client.HTTPConnection(host, port, timeout=120)
            c.request("POST", "/v1/predict", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            r = c.getresponse()
            r.read()
            return r.status, time.perf_counter() - t0

        base = _rss_mb(proc.pid)
        peak = [base]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_mb(proc.pid))
                time.sleep(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        with ThreadPoolExecutor(8) as ex:
            results = list(ex.map(post, [p40] * 8))
        time.sleep(1.0)
        small = tmp / "small.jpg"
        Image.fromarray(np.ascontiguousarray(native[:1024, :1024])).save(small, quality=92)
        after = post(small)
        stop.set()
        th.join()
        proc.terminate()
        proc.wait(30)
        codes = {}
        for st, _ in results:
            codes[st] = codes.get(st, 0) + 1
        print(f"   answers: {codes} (200 scored, 503 over the pixel budget with Retry-After); seconds "
              f"{', '.join(f'{t:.1f}' for _, t in results)}")
        print(f"   server RSS: idle {base:.0f} MB, peak {peak[0]:.0f} MB; a 1 MP request afterwards: "
              f"{after[0]} in {after[1]:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
