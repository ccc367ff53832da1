"""Leave-one-generator-out benchmark: splits, baselines, outside detectors, outputs."""

import json

import numpy as np
import pytest

from fakedamage.data.dataset import resize_pair
from fakedamage.data.manifest import read_manifest
from fakedamage.generalisation import BenchConfig, generator_family, leave_one_out_rows, load_external, run_bench
from fakedamage.train import DataConfig, ModelConfig, TrainerConfig


def score_by_contrast(images):
    """An outside detector as a plain callable: images -> scores."""
    return [float(np.clip(im.std() / 128.0, 0, 1)) for im in images]


def test_leave_one_out_drops_only_training_fakes_of_the_held_out_generator(pipeline):
    rows = read_manifest(pipeline["manifest"])
    g = sorted({r.generator for r in rows if r.label == 1 and r.generator})[0]
    kept = leave_one_out_rows(rows, g)
    assert not [r for r in kept if r.generator == g and r.split in ("train", "val")]
    assert [r.id for r in kept if r.split == "test"] == [r.id for r in rows if r.split == "test"]
    assert sum(r.label == 0 for r in kept) == sum(r.label == 0 for r in rows)


def test_resize_baseline_really_resizes():
    img = np.zeros((100, 300, 3), np.uint8)
    mask = np.zeros((100, 300), bool)
    mask[:50] = True
    out, m = resize_pair(img, mask, 224)
    assert out.shape == (224, 224, 3) and m.shape == (224, 224) and m.mean() == pytest.approx(0.5, abs=0.01)


def test_generator_families():
    assert generator_family("taef2") == "taef2"
    assert generator_family("ldm-c4-nearest") == "ldm" and generator_family("inpainter-ffc") == "inpainter"
    assert generator_family("ae-nearest") == "surrogate" and generator_family("sd2") == "sd2"
    assert generator_family("ae-nearest", {"mine": ("ae-n*",)}) == "mine"


def test_bench_runs_the_protocol_with_baselines_and_outside_detectors(pipeline, tmp_path):
    rows = read_manifest(pipeline["manifest"])
    in_test = sorted({r.generator for r in rows if r.label == 1 and r.split == "test" and r.generator})
    held = tuple(in_test[:2])
    families = {g: (g,) for g in in_test}  # every generator its own family
    cfg = BenchConfig(detectors=("ours", "npr", "aeroblade"), holdout=held, families=families, include_all=True,
                      external=(str(pipeline["onnx"]), "test_bench:score_by_contrast"))
    data = DataConfig(manifest=str(pipeline["manifest"]), batch_size=8)
    model = ModelConfig(backbone="resnet10t", pretrained_file=None, tile_size=64, tile_stride=64)
    trainer = TrainerConfig(epochs=1, max_steps_per_epoch=2, device="cpu", progress=False, tensorboard=False)
    out = run_bench(data, model, trainer, tmp_path, cfg, progress=False)
    assert set(out["unseen_auc"]) == {"ours", "npr", "aeroblade"}
    assert {f"{d}, without {g}" for d in ("ours", "npr", "aeroblade") for g in held} <= set(out["matrix"])
    assert {"ours, all families", "npr, all families"} <= set(out["matrix"])
    assert {"external:model", "external:score_by_contrast"} <= set(out["matrix"])
    # the trace figures are there: genuine damage against each family's pasted fakes
    cell = out["matrix"][f"ours, without {held[0]}"][held[0]]
    assert 0.0 <= cell["trace_auc"] <= 1.0 and cell["trace_n_real"] > 0 and cell["trace_n_fake"] > 0
    assert set(out["unseen_trace_auc"]) == {"ours", "npr", "aeroblade"}
    for name in ("bench.json", "matrix.csv", "matrix.png", "report.md"):
        assert (tmp_path / name).is_file()
    assert json.loads((tmp_path / "bench.json").read_text())["holdout"] == list(held)
    assert "Trace AUC" in (tmp_path / "report.md").read_text()
    # a finished cell is reused: a second run trains nothing and gives the same matrix
    again = run_bench(data, model, trainer, tmp_path, cfg, progress=False)
    assert again["matrix"] == out["matrix"]


def test_bad_external_and_detector_names_are_clear():
    with pytest.raises(ValueError, match="cannot import"):
        load_external("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="give an .onnx path"):
        load_external("just_a_name")
    with pytest.raises(ValueError, match="unknown bench detector"):
        BenchConfig(detectors=("ours", "cnndetection"))
