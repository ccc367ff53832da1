"""Offline ImageNet weights: the converted file loads in timm and recognises real photos."""


import pytest
import skimage.data
import timm
import torch
from safetensors.torch import load_file

from fakedamage.models import PretrainedMismatchError, convert_efficientnet_lite0, create_detector


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


def test_converted_weights_load_every_backbone_tensor(tmp_path):
    path = convert_efficientnet_lite0(tmp_path / "lite0.safetensors")
    file = load_file(str(path))
    a = create_detector("tf_efficientnet_lite0", pretrained_file=path)
    b = create_detector("tf_efficientnet_lite0")
    encoder = a.encoder.state_dict()
    missing = [k for k in encoder if k not in file and not k.endswith("num_batches_tracked")]
    assert missing == []
    for k, v in encoder.items():
        if v.is_floating_point():
            assert torch.equal(v, file[k]), k
    assert not torch.equal(a.encoder.conv_stem.weight, b.encoder.conv_stem.weight)
    assert a.head.fc.out_features == 1


def test_mismatched_pretrained_file_names_file_and_keys(tmp_path):
    path = convert_efficientnet_lite0(tmp_path / "lite0.safetensors")
    with pytest.raises(PretrainedMismatchError, match=r"lite0\.safetensors: weights do not fit backbone 'resnet18'.*missing \(e\.g\. conv1\.weight"):
        create_detector("resnet18", pretrained_file=path)
    # a truncated file
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(PretrainedMismatchError, match="cut.safetensors"):
        create_detector("tf_efficientnet_lite0", pretrained_file=bad)
    with pytest.raises(FileNotFoundError, match="nope.safetensors: pretrained weights not found"):
        create_detector("tf_efficientnet_lite0", pretrained_file=tmp_path / "nope.safetensors")
