"""The trainer: both heads, overfitting, resume after SIGKILL, DDP under torchrun, bad input."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fakedamage.data.manifest import read_manifest, write_manifest
from fakedamage.data.transforms import AugmentConfig
from fakedamage.models import create_detector, load_checkpoint
from fakedamage.train import DataConfig, DetectorLoss, ModelConfig, TrainerConfig, fit

REPO = Path(__file__).resolve().parents[1]
NO_AUG = AugmentConfig(hflip=0, jpeg_p=0, webp_p=0, blur_p=0, rescale_p=0, noise_p=0, color_p=0)
SMALL = ModelConfig(backbone="resnet10t", pretrained_file=None, tile_size=64, tile_stride=64, drop_rate=0.0)


@pytest.mark.parametrize("backbone", ["resnet10t", "tf_efficientnet_lite0"])
@pytest.mark.parametrize("shape", [(2, 64, 64), (1, 96, 160)])
def test_heads_give_image_logit_and_input_sized_map(backbone, shape):
    model = create_detector(backbone).eval()
    n, h, w = shape
    with torch.no_grad():
        logit, mask = model(torch.rand(n, 3, h, w))
        only = model.classify(torch.rand(n, 3, h, w))
    assert logit.shape == (n, 1) and only.shape == (n, 1)
    assert mask.shape == (n, 1, h, w)


def test_unknown_backbone_suggests_close_timm_names():
    with pytest.raises(ValueError, match=r"unknown timm backbone 'efficientnet_lite_0'; did you mean .*efficientnet_lite0"):
        create_detector("efficientnet_lite_0")


def test_mask_loss_only_where_the_map_is_known():
    loss = DetectorLoss(pos_weight=1.0, mask_weight=1.0)
    logit = torch.zeros(2, 1)
    wrong = torch.full((2, 1, 8, 8), 5.0)  # confidently "generated" everywhere
    target = torch.zeros(2, 1, 8, 8)
    label = torch.tensor([0.0, 1.0])
    _, _, known = loss(logit, wrong, label, target, torch.tensor([1.0, 1.0]))
    _, _, unknown = loss(logit, wrong, label, target, torch.tensor([0.0, 0.0]))
    assert float(known) > 4.0 and float(unknown) == 0.0


def _tiny_manifest(pipeline, tmp_path: Path, n_per_class: int = 4) -> Path:
    """Train and val are the same few images (an overfitting check), data copied beside the manifest."""
    rows = read_manifest(pipeline["manifest"])
    reals = [r for r in rows if r.variant == "pristine"][:n_per_class]
    fakes = [r for r in rows if r.variant == "reconstruction" and r.generator == "ae-nearest"][:n_per_class]
    assert len(fakes) == n_per_class
    root = tmp_path / "tiny"
    out = []
    for r in reals + fakes:
        for p in (r.path, r.mask_path):
            if p:
                (root / p).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(pipeline["manifest"].parent / p, root / p)
        out.append(dataclasses.replace(r, split="train"))
        out.append(dataclasses.replace(r, id=r.id + "/val", split="val"))
    return write_manifest(out, root / "manifest.parquet")


def test_small_model_overfits_a_tiny_set(pipeline, tmp_path):
    manifest = _tiny_manifest(pipeline, tmp_path)
    trainer = TrainerConfig(epochs=6, lr=3e-3, warmup_epochs=0, ema_decay=None, device="cpu", progress=False,
                            tensorboard=False, seed=0, deterministic=True)
    # each epoch sees every image 8 times (batch of 8 = the whole set): 48 updates in all
    data = DataConfig(manifest=str(manifest), batch_size=8, augment=NO_AUG)
    result = fit(data, SMALL, trainer, tmp_path / "run", resume=None)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.5 * first["train_loss"], (first["train_loss"], last["train_loss"])
    assert result.best_metrics["auc"] == 1.0


def _overrides(run: Path, manifest: Path, *extra: str) -> list[str]:
    return ["experiment=smoke", f"run_dir={run}", f"data.manifest={manifest}", "trainer.epochs=2",
            "trainer.deterministic=true", "trainer.device=cpu", "trainer.tensorboard=false", "trainer.warmup_epochs=1",
            *extra]


def _train_cmd(run: Path, manifest: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fakedamage", "train", *_overrides(run, manifest, *extra)]


# The same run as `fakedamage train`, through the library, with an epoch callback that SIGKILLs the
# process right after the epoch's checkpoints are written (what a preempted job looks like).
_KILLED_AFTER_EPOCH = """
import os, signal, sys
from fakedamage.config import compose_config
from fakedamage.train import configs_from_dict, fit

kill_after, overrides = int(sys.argv[1]), sys.argv[2:]
cfg = compose_config("train", overrides)
data, model, trainer = configs_from_dict(cfg)

def kill(epoch, row):
    if epoch == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)

fit(data, model, trainer, cfg["run_dir"], config=cfg, on_epoch_end=kill)
"""


def test_resume_after_sigkill_equals_uninterrupted_training(pipeline, tmp_path):
    manifest = pipeline["manifest"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_train_cmd(whole, manifest), check=True, capture_output=True, timeout=300, cwd=REPO)
    proc = subprocess.run([sys.executable, "-c", _KILLED_AFTER_EPOCH, "1", *_overrides(killed, manifest)],
                          capture_output=True, timeout=300, cwd=REPO)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert json.loads((killed / "weights" / "last.json").read_text())["epoch"] == 1
    load_checkpoint(killed / "weights" / "last.safetensors")  # the kill left a loadable `last`
    proc = subprocess.run(_train_cmd(killed, manifest, "resume=true"), capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming" in proc.stderr and "at epoch 2/2" in proc.stderr
    a = load_file(str(whole / "weights" / "last.safetensors"))
    b = load_file(str(killed / "weights" / "last.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    rows_a = list(csv.DictReader(open(whole / "metrics.csv")))
    rows_b = list(csv.DictReader(open(killed / "metrics.csv")))
    assert [(r["step"], r["lr"]) for r in rows_a] == [(r["step"], r["lr"]) for r in rows_b]
    assert float(rows_a[1]["train_loss"]) == pytest.approx(float(rows_b[1]["train_loss"]), rel=1e-5)


@pytest.mark.slow
def test_torchrun_two_cpu_processes_match_single_process_keys(pipeline, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "fakedamage", "train", "experiment=smoke", f"run_dir={run}", f"data.manifest={pipeline['manifest']}",
           "trainer.device=cpu", "trainer.threads=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((run / "train_metrics.json").read_text())
    single = json.loads((pipeline["run"] / "train_metrics.json").read_text())
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert set(ddp["history"][0]) == set(single["history"][0])
    assert set(ddp["best"]) == set(single["best"])
    # validation was gathered from both ranks: every val image counted once
    n_val = len(read_manifest(pipeline["manifest"], splits=["val"]))
    assert ddp["best"]["n"] == n_val
    assert proc.stdout.count("best ") == 1  # rank 0 alone reports
    load_checkpoint(run / "weights" / "best.safetensors")


def test_corrupt_training_image_is_skipped_and_counted(pipeline, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(pipeline["manifest"].parent, data_dir, ignore=shutil.ignore_patterns("generators", "shards"))
    rows = read_manifest(data_dir / "manifest.parquet", splits=["train"])
    (data_dir / rows[0].path).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    trainer = TrainerConfig(epochs=1, device="cpu", progress=False, tensorboard=False, ema_decay=None)
    result = fit(DataConfig(manifest=str(data_dir / "manifest.parquet"), batch_size=8, augment=NO_AUG), SMALL,
                 trainer, tmp_path / "run")
    assert result.history[0]["skipped"] == 1


def test_bf16_channels_last_and_accumulation_train_on_cpu(pipeline, tmp_path):
    trainer = TrainerConfig(epochs=1, max_steps_per_epoch=4, accumulate=2, precision="bf16", channels_last=True,
                            device="cpu", progress=False, tensorboard=True, ema_decay=0.9)
    result = fit(DataConfig(manifest=str(pipeline["manifest"]), batch_size=4, augment=NO_AUG), SMALL, trainer,
                 tmp_path / "run")
    assert result.history[0]["step"] == 2  # 4 batches, 2 per update
    assert np.isfinite(result.history[0]["train_loss"])
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_fp16_on_cpu_is_refused_in_one_line(pipeline, tmp_path):
    trainer = TrainerConfig(epochs=1, precision="fp16", device="cpu", progress=False)
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        fit(DataConfig(manifest=str(pipeline["manifest"])), SMALL, trainer, tmp_path / "run")


def test_bad_trainer_values_are_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainerConfig(precision="fp8")
    with pytest.raises(ValueError, match="accumulate must be >= 1"):
        TrainerConfig(accumulate=0)
