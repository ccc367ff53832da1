"""Offline ImageNet weights: the converted file loads in timm and recognises real photos."""

import numpy as np
import skimage.data
import timm
import torch
from safetensors.torch import load_file

from fakedamage.models import convert_efficientnet_lite0, create_detector


def test_converted_weights_classify_real_photos(tmp_path):
    path = convert_efficientnet_lite0(tmp_path / "lite0.safetensors")
    assert len(load_file(str(path))) == len(timm.create_model("tf_efficientnet_lite0").state_dict())
    model = timm.create_model("tf_efficientnet_lite0", pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(path))).eval()
    # ImageNet classes: 967 espresso, 281-285 cats
    for img, ok in ((skimage.data.coffee(), {967, 968}), (skimage.data.chelsea(), {281, 282, 283, 284, 285})):
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
        with torch.no_grad():
            top = int(model((x - 0.5) / 0.5).argmax())
        assert top in ok


def test_detector_from_offline_weights_differs_from_scratch(tmp_path):
    path = convert_efficientnet_lite0(tmp_path / "lite0.safetensors")
    a = create_detector("tf_efficientnet_lite0", pretrained_file=path)
    b = create_detector("tf_efficientnet_lite0")
    wa = a.backbone.conv_stem.weight
    assert torch.equal(wa, load_file(str(path))["conv_stem.weight"])
    assert not torch.equal(wa, b.backbone.conv_stem.weight)
    assert a.backbone.get_classifier().out_features == 1
