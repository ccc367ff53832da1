"""The house: no import cycle, one of each shared helper, one version, one pixel limit, metadata as
the single source of normalisation, and the CLI's error policy (user errors in one line, bugs with
their traceback)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import yaml

from fakedamage import __version__
from fakedamage.cli import call_runner
from fakedamage.errors import FakedamageError, UsageError
from fakedamage.runtime.image_io import DEFAULT_MAX_PIXELS

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PKG = SRC / "fakedamage"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def import_graph() -> dict[str, set[str]]:
    """``module -> package modules it imports``, at module level *and* inside functions.

    ``from .a import b`` counts as importing ``a.b`` when that is a module, else ``a``.
    """
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, (path, is_pkg) in mods.items():
        pkg = m if is_pkg else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    root = ".".join(base + ([node.module] if node.module else []))
                else:
                    root = node.module or ""
                targets = [f"{root}.{a.name}" if f"{root}.{a.name}" in mods else root for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    # the graph sees imports inside functions: train -> calibration is one, made lazily there
    assert "fakedamage.calibration" in import_graph()["fakedamage.commands.calibrate"]


def _sources() -> dict[str, str]:
    return {p.relative_to(PKG).as_posix(): p.read_text(encoding="utf-8") for p in PKG.rglob("*.py")}


def test_one_atomic_write_helper_and_one_sigmoid():
    src = _sources()
    replacing = sorted(f for f, s in src.items() if "os.replace(" in s)
    assert replacing == ["utils/io.py"], "write files through fakedamage.utils.io.atomic_path"
    sigmoids = sorted(f for f, s in src.items() if re.search(r"^def _?sigmoid\(", s, re.M))
    assert sigmoids == ["runtime/tiling.py"], "use fakedamage.runtime.tiling.sigmoid"


def test_one_pixel_limit_default():
    import inspect

    from fakedamage.data.photos import load_rgb
    from fakedamage.runtime.detector import Detector
    from fakedamage.service.config import ServiceConfig
    from fakedamage.whole_photos import calibrate_size

    assert ServiceConfig(model="x.onnx").max_pixels == DEFAULT_MAX_PIXELS
    for fn in (load_rgb, Detector.__init__, calibrate_size):
        assert inspect.signature(fn).parameters["max_pixels"].default == DEFAULT_MAX_PIXELS, fn
    for name in ("demo.yaml", "calibrate_photos.yaml"):
        cfg = yaml.safe_load((REPO / "configs" / name).read_text())
        value = cfg.get("max_pixels", (cfg.get("size_calibration") or {}).get("max_pixels"))
        assert value == DEFAULT_MAX_PIXELS, name


def test_version_lives_in_one_place():
    assert importlib.metadata.version("fakedamage") == __version__
    text = (REPO / "pyproject.toml").read_text()
    assert not re.search(r"^version\s*=", text, re.M) and 'dynamic = ["version"]' in text


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(capsys):
    def bad_value(cfg):
        raise UsageError(f"{cfg['path']}: not a manifest; run `fakedamage synth` first\nsecond line")

    assert call_runner(bad_value, {"path": "x.parquet"}) == 1
    err = capsys.readouterr().err
    assert err == "error: x.parquet: not a manifest; run `fakedamage synth` first\n"

    def missing(cfg):
        raise FileNotFoundError("model.onnx: not found")

    assert call_runner(missing, {}) == 1

    def bug(cfg):
        return {}["missing"]

    with pytest.raises(KeyError):
        call_runner(bug, {})

    def numpy_bug(cfg):  # a ValueError from a bug is not a user error any more
        import numpy as np

        np.zeros(3).reshape(2, 2)

    with pytest.raises(ValueError, match="reshape"):
        call_runner(numpy_bug, {})
    assert issubclass(UsageError, ValueError) and issubclass(UsageError, FakedamageError)


def test_every_expected_error_type_is_a_fakedamage_error():
    from fakedamage.config import ConfigError
    from fakedamage.export import GateError, ParityError
    from fakedamage.models.factory import PretrainedLoadError, PretrainedMismatchError
    from fakedamage.runtime.detector import ModelLoadError
    from fakedamage.runtime.image_io import ImageDecodeError
    from fakedamage.service.config import ConfigError as ServiceConfigError

    for cls in (ConfigError, GateError, ParityError, PretrainedLoadError, PretrainedMismatchError, ModelLoadError,
                ImageDecodeError, ServiceConfigError):
        assert issubclass(cls, FakedamageError), cls


def test_normalisation_comes_from_the_stored_metadata(tmp_path):
    """A checkpoint keeps its own mean/std even where timm's pretrained config says otherwise, and a
    model whose buffers disagree with its metadata is refused on save."""
    import torch

    from fakedamage.models import build_meta, create_detector, load_checkpoint, save_checkpoint
    from fakedamage.models.factory import resolve_normalization

    mean, std = (0.1, 0.2, 0.3), (0.4, 0.5, 0.6)
    assert resolve_normalization("resnet18") != (mean, std)
    model = create_detector("resnet18", feature_levels=2, decoder_channels=8, mean=mean, std=std)
    meta = build_meta(model, "resnet18", 64)
    assert meta.mean == pytest.approx(mean) and meta.std == pytest.approx(std)
    path = save_checkpoint(model, meta, tmp_path / "m.safetensors")
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded.mean.flatten().tolist() == pytest.approx(mean)
    assert loaded.std.flatten().tolist() == pytest.approx(std)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model.eval()(x)[0])
    with pytest.raises(UsageError, match="normalises with mean=.*metadata says"):
        save_checkpoint(model, meta.replace(mean=(0.5, 0.5, 0.5)), tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()
