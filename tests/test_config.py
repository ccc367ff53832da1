"""Every root config and every config-group option composes; the library never needs Hydra."""



import pytest

from fakedamage.config import CONFIG_NAMES, ConfigError, compose_config, config_dir
from fakedamage.train import configs_from_dict

GROUPS = ["data", "model", "trainer", "export", "generator", "experiment"]


def test_config_dir_has_groups():
    d = config_dir()
    for g in GROUPS:
        assert (d / g).is_dir(), g


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_root_configs_compose(name):
    required = {"eval": ["weights=x.onnx"], "export": ["weights=x.safetensors"], "calibrate": ["weights=x.safetensors"],
                "benchmark": ["onnx=x.onnx"], "calibrate_photos": ["onnx=x.onnx"]}.get(name, [])
    cfg = compose_config(name, required)
    assert "data" in cfg if name != "benchmark" else cfg["onnx"] == "x.onnx"


def test_benchmark_takes_the_ultralytics_style_model_key():
    from fakedamage.cli import KEY_ALIASES

    assert KEY_ALIASES["benchmark"]["model"] == "onnx" and KEY_ALIASES["eval"]["model"] == "weights"


@pytest.mark.parametrize("option", sorted(p.stem for p in (config_dir() / "model").glob("*.yaml")))
def test_every_model_option_builds_dataclasses(option):
    cfg = compose_config("train", [f"model={option}"])
    data, model, trainer = configs_from_dict(cfg)
    assert model.tile_size > 0 and trainer.epochs > 0


@pytest.mark.parametrize("option", sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml")))
def test_every_experiment_composes(option):
    cfg = compose_config("train", [f"experiment={option}", "run_dir=/tmp/x"])
    configs_from_dict(cfg)
    assert cfg["data"]["root"] == "/tmp/x/data"


def test_demo_config_is_offline_and_has_genuine_damage():
    """The demo needs nothing from a hub: TraceNet (no pretrained weights) and generators shipped in the
    package (TAEF2 and the zoo); genuine painted damage is among its negatives."""
    from fakedamage.data.generators.zoo import member_path

    cfg = compose_config("demo")
    assert cfg["model"]["backbone"] == "tracenet" and not cfg["model"]["pretrained"]
    assert cfg["model"]["pretrained_file"] is None
    assert "real_damage" in cfg["data"]["variants"]
    gens = cfg["generators"]
    assert "taef2" in {g["kind"] for g in gens.values()}
    for g in gens.values():
        if g["kind"] in ("ldm", "inpainter"):
            assert member_path(g["weights"]).is_file(), g
        assert g["kind"] not in ("autoencoder", "diffusers")  # nothing trained or downloaded at run time
    assert cfg["data"]["root"] == "runs/demo/data"
    assert cfg["model"]["tile_size"] < cfg["data"]["crop_size"]  # tiles are cut from native crops


def test_typo_names_valid_keys():
    with pytest.raises(ConfigError) as e:
        compose_config("train", ["trainer.epocs=3"])
    msg = str(e.value)
    assert "\n" not in msg and "did you mean 'trainer.epochs'" in msg and "weight_decay" in msg


def test_bad_syntax_is_config_error():
    with pytest.raises(ConfigError):
        compose_config("train", ["trainer.epochs"])


# --- every option of every group instantiates its real objects (lightning-hydra-template style) ---

def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


@pytest.mark.parametrize("option", _options("data"))
def test_data_options_instantiate(option):
    from fakedamage.commands.synth import synth_config
    from fakedamage.data.transforms import build_train_transform

    cfg = compose_config("train", [f"data={option}"])
    data, _, _ = configs_from_dict(cfg)
    assert len(build_train_transform(data.augment).transforms) > 0
    assert synth_config(cfg["data"], 0).crop_size == cfg["data"]["crop_size"]


@pytest.mark.parametrize("option", _options("model"))
def test_model_options_instantiate(option):
    import torch

    from fakedamage.models import create_detector
    from fakedamage.models.pretrained import resolve_pretrained_file

    cfg = compose_config("train", [f"model={option}"])
    _, m, _ = configs_from_dict(cfg)
    model = create_detector(m.backbone, pretrained_file=resolve_pretrained_file(m.pretrained_file),
                            drop_rate=m.drop_rate, feature_levels=m.feature_levels,
                            decoder_channels=m.decoder_channels).eval()
    with torch.no_grad():
        logit, mask = model(torch.rand(1, 3, m.tile_size, m.tile_size))
    assert logit.shape == (1, 1) and mask.shape == (1, 1, m.tile_size, m.tile_size)


@pytest.mark.parametrize("option", _options("trainer"))
def test_trainer_options_instantiate(option):
    _, _, t = configs_from_dict(compose_config("train", [f"trainer={option}"]))
    assert t.precision in ("fp32", "bf16", "fp16") and t.seed == 0


@pytest.mark.parametrize("option", _options("export"))
def test_export_options_instantiate(option):
    from fakedamage.export import ExportConfig

    e = ExportConfig(**compose_config("export", [f"export={option}", "weights=x.safetensors"])["export"])
    assert e.opset >= 13 and e.parity_images >= 1


@pytest.mark.parametrize("option", _options("generator"))
def test_generator_options_instantiate(option, tmp_path):
    import numpy as np
    import skimage.data
    from PIL import Image

    from fakedamage.commands.synth import synth_config
    from fakedamage.data.generators import create_generator
    from fakedamage.data.generators.autoencoder import AutoencoderConfig, ConvAutoencoder

    extra = []
    if option == "diffusers":
        from fakedamage.data.generators.diffusers import build_tiny_inpaint_pipeline

        extra = [f"generators.diffusers.model={build_tiny_inpaint_pipeline(tmp_path / 'pipe')}"]
    if option == "import":
        img = skimage.data.coffee()
        fake = img.copy()
        fake[100:140, 200:260] = 30
        Image.fromarray(img).save(tmp_path / "real.jpg")
        Image.fromarray(fake).save(tmp_path / "fake.png")
        (tmp_path / "fakes.csv").write_text("path,source,generator\nfake.png,real.jpg,some-tool\n")
        extra = [f"generators.import.csv={tmp_path / 'fakes.csv'}"]
    cfg = compose_config("synth", [f"generator=[{option}]", f"run_dir={tmp_path}", *extra])
    spec = dict(cfg["generators"][option])
    kind = spec.pop("kind")
    if kind == "autoencoder":
        arch = AutoencoderConfig(decoder=spec["decoder"], channels=spec["channels"], levels=spec["levels"],
                                 latent_channels=spec["latent_channels"])
        assert sum(p.numel() for p in ConvAutoencoder(arch).parameters()) > 0
    elif kind == "import":
        from fakedamage.data.ingest import import_fakes
        from fakedamage.data.manifest import read_manifest

        shard, failures = import_fakes(spec["csv"], tmp_path / "data", synth_config(cfg["data"], 0))
        assert failures == [] and {r.label for r in read_manifest(shard)} == {0, 1}
    else:
        if kind == "diffusers":
            spec.update(steps=2, local_files_only=True)
        gen = create_generator(kind, **spec)
        crop = skimage.data.coffee()[:64, :64]
        mask = np.zeros((64, 64), np.float32)
        mask[20:40, 20:40] = 1
        assert gen.regenerate(crop, mask, prompt="a crack", seed=0).shape == crop.shape


@pytest.mark.parametrize("option", _options("experiment"))
def test_experiment_options_instantiate(option):
    from fakedamage.export import ExportConfig

    cfg = compose_config("train", [f"experiment={option}"])
    data, model, trainer = configs_from_dict(cfg)
    ExportConfig(**cfg["export"])
    assert model.tile_size <= cfg["data"]["crop_size"]  # tiles are cut from native-resolution crops
    assert model.tile_stride <= model.tile_size
