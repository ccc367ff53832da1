"""TraceNet: the forensic detector architecture (residual stem, local statistics, cell scores)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from fakedamage.models import build_meta, create_detector, load_checkpoint, save_checkpoint
from fakedamage.models.trace import TraceConfig, TraceNet, residual_stem


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_detector("tracenet", trace={"width": 8}).eval()


def test_interface_matches_the_timm_detector(net):
    x = torch.rand(3, 3, 64, 96)
    logit, mask = net(x)
    assert logit.shape == (3, 1) and mask.shape == (3, 1, 64, 96)
    assert torch.allclose(net.classify(x), logit)
    assert net.mean.flatten().tolist() == [0, 0, 0] and net.std.flatten().tolist() == [1, 1, 1]


def test_residual_stem_removes_content():
    flat = torch.full((1, 3, 32, 32), 0.37)
    assert residual_stem(flat).abs().max() == 0
    ramp = torch.linspace(0, 1, 32).repeat(1, 3, 32, 1)  # a smooth gradient: tiny residual away from edges
    assert residual_stem(ramp)[..., 2:-2, 2:-2].abs().max() < 1.0


def test_top_cells_decide_the_tile(net):
    """A local change raises the tile logit through its own cells (top-k pooling), not an average."""
    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.random((1, 3, 128, 128), dtype=np.float32)) * 0.1 + 0.45
    cells = net.cells(base)
    k = max(1, round(net.cfg.topk * cells.numel()))
    assert torch.allclose(net.classify(base), cells.flatten(1).topk(k).values.mean(1, keepdim=True))


def test_checkpoint_roundtrip(tmp_path, net):
    meta = build_meta(net, "tracenet", 64, 32)
    save_checkpoint(net, meta, tmp_path / "t.safetensors")
    again, meta2 = load_checkpoint(tmp_path / "t.safetensors")
    assert isinstance(again, TraceNet) and again.cfg == net.cfg and meta2.backbone == "tracenet"
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(again.classify(x), net.classify(x))


def test_bad_config_and_pretrained_file_are_clear():
    with pytest.raises(ValueError, match="depth >= 2"):
        TraceConfig(depth=1)
    with pytest.raises(ValueError, match="no ImageNet weights"):
        create_detector("tracenet", pretrained_file="efficientnet-lite0.safetensors")


def test_onnx_export_matches_pytorch_on_real_photos(tmp_path, net):
    from fakedamage.export import export_onnx
    from fakedamage.runtime.detector import Detector

    photos = [skimage.data.astronaut()[:200, :300], skimage.data.coffee()[:100, :90], skimage.data.chelsea()]
    meta = build_meta(net, "tracenet", 128, 64)
    report = export_onnx(net, meta, tmp_path / "t.onnx", photos)
    assert report.ok and report.max_abs_dprob < 1e-5
    pred = Detector(tmp_path / "t.onnx").predict(photos[0], heatmap=True)
    assert pred.heatmap.shape == (200, 300) and 0.0 <= pred.score <= 1.0
