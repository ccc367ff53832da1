"""The layout of :mod:`fakedamage.assess`: one job per module, documented, no import cycles.

Checked on the source (the AST), so an import added inside a function counts too:
every module has a docstring; the import graph of the package has no cycle; provenance and
reference code take their settings from :mod:`fakedamage.assess.settings`, never from the
fusion rule; nothing swaps process-wide warning state or serialises assessments with a lock;
and the public names callers import are where they were.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import fakedamage.assess

PACKAGE = Path(fakedamage.assess.__file__).resolve().parent
ROOT = PACKAGE.parents[1]


def _modules() -> dict[str, tuple[Path, bool]]:
    """``dotted name -> (file, is a package __init__)`` of every module of the package."""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


def _imports(name: str, path: Path, is_pkg: bool, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)] + ([node.module] if node.module else [])
                module = ".".join(base)
            else:
                module = node.module or ""
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def test_every_module_has_a_docstring():
    missing = [name for name, (path, _) in _modules().items()
               if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))]
    assert missing == []


def test_no_import_cycles():
    mods = _modules()
    graph = {name: _imports(name, path, is_pkg, set(mods)) for name, (path, is_pkg) in mods.items()}
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert len(graph) >= 20  # the provenance and reference subpackages are in the graph


def test_provenance_and_reference_take_settings_not_the_fusion_rule():
    mods = _modules()
    for name, (path, is_pkg) in mods.items():
        if ".provenance" in name or ".reference" in name:
            assert "fakedamage.assess.fusion" not in _imports(name, path, is_pkg, set(mods)), name
    from fakedamage.assess import fusion, settings

    assert fusion.AssessConfig is settings.AssessConfig and fakedamage.assess.AssessConfig is settings.AssessConfig


def test_no_process_wide_warning_state_or_assessment_lock():
    """Neither the assess package nor the service's claim worker serialises assessments."""
    for path in [*PACKAGE.rglob("*.py"), ROOT / "fakedamage" / "service" / "claims.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("catch_warnings", "Lock", "RLock"):
                pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.attr}")


def test_public_names_are_where_callers_import_them():
    from fakedamage.assess.claim_report import overlay, render_html, write_html  # noqa: F401
    from fakedamage.assess.fusion import VERDICTS, Decision, fuse, load_config  # noqa: F401
    from fakedamage.assess.provenance import (  # noqa: F401
        IPTC_SOURCE_TYPES,
        LABEL_KINDS,
        TC260_NAMESPACE,
        classify_software,
        read_provenance,
    )
    from fakedamage.assess.reference import (  # noqa: F401
        Match,
        MatchReport,
        ReferenceImage,
        ReferenceMatcher,
        Region,
        load_references,
        phash,
        reference_evidence,
        sample_video_frames,
    )

    assert classify_software("Adobe Photoshop 25.0") == ("editor", "Adobe Photoshop")
    with pytest.raises(ModuleNotFoundError):  # renamed: the evaluation report is fakedamage.report
        importlib.import_module("fakedamage.assess.report")
