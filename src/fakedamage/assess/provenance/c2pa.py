"""C2PA content credentials, read with ``c2pa-python``.

Reported: the digital source type of every action (e.g. generative fill's
``compositeWithTrainedAlgorithmicMedia``), the signer, and the validation state
(``Invalid`` / ``Valid`` / ``Trusted``, the latter with ``c2pa_trust_anchors``). A manifest that
fails validation means the file changed after signing; a valid, trusted manifest declaring an
unedited camera capture is the only provenance item that supports authenticity.

``import c2pa`` below is the ``c2pa-python`` package (imports are absolute), not this module.
"""

from __future__ import annotations

import io
import json
from typing import Any, Iterable

from ..settings import AssessConfig
from .collector import Collector, one_line
from .labels import IPTC_SOURCE_TYPES

__all__ = ["read_c2pa"]


def _c2pa_manifest_store(data: bytes, mime: str, cfg: AssessConfig) -> dict[str, Any] | None:
    """The manifest store as JSON plus its validation state under ``"_state"``, or ``None`` without one."""
    import c2pa

    context = None
    if cfg.c2pa_trust_anchors:
        with open(cfg.c2pa_trust_anchors, encoding="utf-8") as f:
            pem = f.read()
        context = c2pa.Context(settings=c2pa.Settings.from_dict({"trust": {"user_anchors": pem}}))
    reader = (c2pa.Reader.try_create(mime, io.BytesIO(data), None, context) if context is not None
              else c2pa.Reader.try_create(mime, io.BytesIO(data)))
    if reader is None:
        return None
    try:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    finally:
        reader.close()
    store["_state"] = state
    return store


def _walk_actions(store: dict[str, Any]) -> Iterable[tuple[bool, dict[str, Any]]]:
    """``(is_active_manifest, action)`` for every action of every manifest in the store."""
    active = store.get("active_manifest")
    for label, manifest in (store.get("manifests") or {}).items():
        for assertion in manifest.get("assertions") or []:
            if str(assertion.get("label", "")).startswith("c2pa.actions"):
                for action in (assertion.get("data") or {}).get("actions") or []:
                    if isinstance(action, dict):
                        yield label == active, action


def _agent(action: dict[str, Any]) -> str:
    """The software agent of a C2PA action, as a short name."""
    agent = action.get("softwareAgent")
    if isinstance(agent, dict):
        agent = agent.get("name", "")
    return one_line(agent or "", 60)


def read_c2pa(data: bytes, mime: str, cfg: AssessConfig, col: Collector) -> None:
    """Report the C2PA manifest store of the file, if it has one (``c2pa-python`` missing: not checked)."""
    try:
        import c2pa
    except ImportError:
        col.not_checked.append("C2PA (c2pa-python not installed)")
        return
    col.checked.append("C2PA")
    if b"c2pa" not in data:  # every C2PA manifest store carries the JUMBF label 'c2pa'
        return
    try:
        store = _c2pa_manifest_store(data, mime, cfg)
    except c2pa.C2paError as e:
        col.error("C2PA content credential", f"invalid ({one_line(e, 100)})",
                  "it is damaged or forged and proves nothing")
        return
    if store is None:
        return
    state = store.get("_state") or "Unknown"
    statuses = [s.get("code", "") for s in store.get("validation_status") or [] if isinstance(s, dict)]
    failures = [c for c in statuses if c and c != "signingCredential.untrusted"]
    active = (store.get("manifests") or {}).get(store.get("active_manifest"), {})
    sig = active.get("signature_info") or {}
    issuer = one_line(sig.get("issuer") or sig.get("common_name") or "an unknown signer", 60)
    gens = [g.get("name", "") for g in active.get("claim_generator_info") or [] if isinstance(g, dict)]
    generator = one_line(gens[0] if gens else active.get("claim_generator", "") or "", 60)
    actions = list(_walk_actions(store))
    sources = []
    for is_active, a in actions:
        dst = a.get("digitalSourceType")
        if dst:
            code = str(dst).rstrip("/").rsplit("/", 1)[-1]
            sources.append((code, IPTC_SOURCE_TYPES.get(code, ("other", code))[0], str(a.get("action", "")),
                            _agent(a), is_active))
    details = {"validation_state": state, "validation_codes": statuses, "issuer": issuer, "claim_generator": generator,
               "actions": [str(a.get("action", "")) for _, a in actions],
               "digital_source_types": [s[0] for s in sources], "active_manifest": store.get("active_manifest")}
    signed = {"Trusted": "signature valid and trusted", "Valid": "signature valid, signer not on a trust list",
              "Invalid": "validation failed"}.get(state, f"validation state {state}")
    ai = [s for s in sources if s[1] == "ai"] or [s for s in sources if s[1] == "synthetic"]
    if ai:
        code, category, action, agent, _ = ai[0]
        by = f" by {agent}" if agent else ""
        strength = cfg.label_strength if state != "Invalid" and category == "ai" else cfg.possible_label_strength
        what = "part or all of it was made by generative AI" if category == "ai" else "it is not a camera photo"
        col.add("c2pa_manifest", strength,
                f"The photo's C2PA content credential (from {issuer}, {signed}) records {action or 'an action'}{by} "
                f"with digital source type {code}: {what}.", **details)
    elif state == "Invalid" or failures:
        col.add("c2pa_manifest", cfg.c2pa_invalid_strength,
                f"The photo's C2PA content credential (from {issuer}) fails validation "
                f"({', '.join(failures[:3]) or state}): the file was changed after it was signed.", **details)
    elif state == "Trusted" and sources and all(s[1] == "capture" for s in sources) and not any(
            str(a.get("action", "")) in ("c2pa.edited", "c2pa.placed", "c2pa.removed") for _, a in actions):
        col.add("c2pa_manifest", -cfg.c2pa_trusted_capture_strength,
                f"The photo carries a valid, trusted C2PA content credential from {issuer} declaring an unedited "
                f"camera capture.", **details)
    else:
        col.add("c2pa_manifest", 0.0,
                f"The photo carries a C2PA content credential from {issuer} ({signed}) that declares no AI "
                f"generation.", **details)
