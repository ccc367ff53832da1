#!/usr/bin/env python
"""Train the decoder zoo (LDM-style VAEs and a LaMa-like inpainter) on CPU.

Each member trains on random native crops of the TRAIN-split offline photos with
L1 + perceptual + patch-GAN losses, then is measured on held-out photos (quality
gates) and written to src/fakedamage/data/generators/zoo/<name>.safetensors (+ .json,
README.md). Checkpoints go to --ckpt-dir every few minutes; a killed run continues
with --resume.

    python scripts/train_zoo.py --model ldm-c16-nearest --threads 2
    python scripts/train_zoo.py --model all --threads 2 --resume      # every member in turn
    python scripts/train_zoo.py --list
    # second stage: sharpen a trained member (band-energy loss, see zoo_losses.py)
    python scripts/train_zoo.py --model ldm-c16-nearest --init-from ldm-c16-nearest --steps 800 \
        --lr 2e-4 --band-weight 1.0 --disc-start 200
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from fakedamage.data.generators.zoo import MEMBERS, ZOO_DIR, list_zoo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help=f"zoo member, comma-separated members, or 'all' ({', '.join(MEMBERS)})")
    ap.add_argument("--list", action="store_true", help="list the members, their defaults and status, then exit")
    ap.add_argument("--steps", type=int, help="optimiser steps (default: the member's)")
    ap.add_argument("--batch", type=int, help="crops per step (default: the member's)")
    ap.add_argument("--crop", type=int, help="crop side in px, native resolution (default: the member's)")
    ap.add_argument("--lr", type=float, help="Adam learning rate, generator and discriminator")
    ap.add_argument("--disc-start", type=int, help="step at which the patch-GAN loss is switched on")
    ap.add_argument("--disc-weight", type=float, help="LDM disc_weight (scales the adaptive weight), default 0.5")
    ap.add_argument("--d-lr", type=float, help="discriminator learning rate (constant), default 2e-4")
    ap.add_argument("--disc-ramp", type=int, help="steps over which the adversarial term ramps in (500)")
    ap.add_argument("--init-noise", type=float, help="LDM near-identity init: scale of the default weights added (0.3)")
    ap.add_argument("--perceptual-weight", type=float, help="default 1.0")
    ap.add_argument("--kl-weight", type=float, help="default 1e-6 (VAEs only)")
    ap.add_argument("--init-from", help="fine-tune: start from these weights (a member name or .safetensors) "
                    "instead of the near-identity init; the record keeps every stage")
    ap.add_argument("--band-weight", type=float, help="weight of the band-energy (sharpness) loss, default 0")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, help="stop (checkpoint, measure, save) after this many minutes")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0, help="checkpoint interval (default 5)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=0, help="held-out check on 16 crops every N steps (0: off)")
    ap.add_argument("--eval-crops", type=int, default=64, help="held-out crops for the final gates (default 64)")
    ap.add_argument("--out", default=str(ZOO_DIR), help="folder of the weights (default: the packaged zoo)")
    ap.add_argument("--ckpt-dir", default=str(REPO / "runs" / "zoo"), help="training checkpoints")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint; skip finished members")
    ap.add_argument("--random-perceptual", action="store_true", help="random instead of ImageNet features (tests)")
    args = ap.parse_args(argv)

    if args.list:
        for m, row in zip(MEMBERS.values(), list_zoo(args.out)):
            status = "not trained" if not row["available"] else ("gates pass" if row["gates_passed"] else "gates FAIL")
            print(f"{m.name:22s} {m.kind:9s} {status:11s} {m.train}  {m.description}")
        return 0
    if not args.model:
        ap.error("--model is required (or --list)")
    names = list(MEMBERS) if args.model == "all" else [n.strip() for n in args.model.split(",") if n.strip()]
    unknown = [n for n in names if n not in MEMBERS]
    if unknown:
        ap.error(f"unknown member(s) {unknown}; members: {', '.join(MEMBERS)}")

    from fakedamage.data.generators.zoo_train import TrainSettings, train_member

    failed = []
    for name in names:
        cmd = ["python", "scripts/train_zoo.py", "--model", name]
        raw = argv if argv is not None else sys.argv[1:]
        skip = False
        for tok in raw:  # record the member's own command: the other options, --model replaced
            if skip:
                skip = False
                continue
            if tok == "--model":
                skip = True
                continue
            if tok.startswith("--model=") or tok == "--resume":
                continue
            cmd.append(tok)
        s = TrainSettings.for_member(
            name, steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, disc_start=args.disc_start,
            disc_weight=args.disc_weight, d_lr=args.d_lr, disc_ramp=args.disc_ramp, init_noise=args.init_noise,
            perceptual_weight=args.perceptual_weight, kl_weight=args.kl_weight,
            init_from=args.init_from, band_weight=args.band_weight,
            threads=args.threads, seed=args.seed, max_minutes=args.max_minutes,
            checkpoint_minutes=args.checkpoint_minutes, log_every=args.log_every, eval_every=args.eval_every,
            eval_crops=args.eval_crops, out=args.out, ckpt_dir=args.ckpt_dir, resume=args.resume,
            offline_perceptual=not args.random_perceptual, command=shlex.join(cmd))
        try:
            rec = train_member(s)
        except KeyboardInterrupt:
            return 130
        if not rec["gates"]["passed"]:
            failed.append(name)
    if failed:
        print(f"gates failed for: {', '.join(failed)} (weights written; see the .json records)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
