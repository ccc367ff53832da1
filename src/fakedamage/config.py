"""Compose Hydra configs for the command-line verbs, with friendly errors.

Only entry points (:mod:`fakedamage.cli`, ``python -m fakedamage``) call
this module; library code takes plain arguments and dataclasses. Hydra is imported
lazily, and initialised only inside :func:`compose_config`'s context.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import UsageError

__all__ = ["ConfigError", "config_dir", "compose_config", "save_config", "CONFIG_NAMES"]

#: Root configs, one per configured verb.
CONFIG_NAMES = ("synth", "train", "calibrate", "calibrate_photos", "eval", "bench", "export", "benchmark", "demo")


class ConfigError(UsageError):
    """A bad override or an incomplete config; the message is one line with the fix."""


def config_dir() -> Path:
    """The ``configs/`` folder: packaged in the wheel, or the repository's in a source checkout."""
    env = os.environ.get("FAKEDAMAGE_CONFIG_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here / "configs", here.parents[1] / "configs"]
    for c in candidates:
        if (c / "train.yaml").is_file():
            return c
    raise ConfigError(f"configs/ not found (looked in {', '.join(map(str, candidates))}); set FAKEDAMAGE_CONFIG_DIR")


def _keys(node: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    out = []
    if isinstance(node, DictConfig):
        for k in node.keys():
            full = f"{prefix}{k}"
            out.append(full)
            try:
                child = node._get_node(k)
            except Exception:  # pragma: no cover
                continue
            if isinstance(child, DictConfig):
                out += _keys(child, full + ".")
    return out


def _explain(name: str, overrides: Sequence[str], err: Exception) -> ConfigError:
    from hydra import compose

    msg = str(err)
    m = re.search(r"Could not override '([^']+)'", msg) or re.search(r"Key '([^']+)' is not in struct", msg)
    if m:
        bad = m.group(1)
        rest = [o for o in overrides if not o.lstrip("+~").startswith(bad + "=")]
        try:
            base = compose(config_name=name, overrides=rest)
        except Exception:
            base = compose(config_name=name)
        parent, _, leaf = bad.rpartition(".")
        node = base
        for part in parent.split(".") if parent else []:
            node = node.get(part) if hasattr(node, "get") else None
        siblings = [k for k in (node.keys() if hasattr(node, "keys") else [])]
        close = difflib.get_close_matches(leaf, siblings, n=1) or difflib.get_close_matches(bad, _keys(base), n=1)
        hint = f"did you mean '{(parent + '.' if parent and close[0] in siblings else '') + close[0]}'? " if close else ""
        where = f"'{parent}'" if parent else "the top level"
        return ConfigError(f"unknown config key '{bad}'; {hint}valid keys in {where}: {', '.join(map(str, siblings))}")
    m = re.search(r"Could not find '([^']+)'", msg)
    if m:
        opts = re.findall(r"^\t(\S+)$", msg, flags=re.M)
        group, _, choice = m.group(1).rpartition("/")
        close = difflib.get_close_matches(choice, opts, n=1)
        hint = f"did you mean {group}={close[0]}? " if close else ""
        return ConfigError(f"no config '{choice}' in group '{group}'; {hint}available: {', '.join(opts)}")
    first = msg.strip().splitlines()[0] if msg.strip() else type(err).__name__
    return ConfigError(f"bad config override ({first}); overrides look like key=value, e.g. trainer.epochs=3")


def compose_config(name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Compose ``configs/<name>.yaml`` with ``key=value`` overrides and resolve it to a dict.

    Raises:
        ConfigError: unknown key (with the valid keys and a suggestion), unknown
            group option, bad syntax, or a required value (``???``) left unset.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if name not in CONFIG_NAMES:
        raise ConfigError(f"no root config {name!r}; choose from {CONFIG_NAMES}")
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name=f"fakedamage_{name}"):
        try:
            cfg = compose(config_name=name, overrides=list(overrides))
        except (HydraException, OmegaConfBaseException) as e:
            raise _explain(name, overrides, e) from None
        try:
            return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
        except MissingMandatoryValue as e:
            key = getattr(e, "full_key", "") or str(e).splitlines()[0]
            raise ConfigError(f"missing required value '{key}'; pass it as {key}=...") from None
        except OmegaConfBaseException as e:
            raise ConfigError(f"cannot resolve config: {str(e).splitlines()[0]}") from None


def save_config(cfg: Mapping[str, Any], path: str | Path) -> Path:
    """Write the resolved config as YAML (atomic)."""
    from omegaconf import OmegaConf

    from .utils.io import atomic_write_text

    return atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.create(dict(cfg))))
