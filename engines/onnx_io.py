"""ONNX export shared by export/ and the runtime: export through a wrapper, check against torch at once."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

OPSET = 17


def export_and_check(
    module: torch.nn.Module,
    inputs: Mapping[str, torch.Tensor],
    output_names: list[str],
    path: Path,
    dynamic_axes: dict[str, dict[int, str]] | None = None,
    rtol: float = 1e-4,
) -> float:
    """Export ``module`` to ``path`` and return the max relative error of ONNX Runtime vs torch.

    Raises ``AssertionError`` when the error exceeds ``rtol`` (relative to the output's max magnitude),
    so a bad export never lands silently.
    """
    import onnx
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    args = tuple(inputs.values())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes read in Python: expected
        expected = module(*args)
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=list(inputs),
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    expected_list = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    worst = 0.0
    for e, g in zip(expected_list, got, strict=True):
        e_np = e.numpy()
        worst = max(worst, float(np.abs(e_np - g).max() / max(np.abs(e_np).max(), 1e-12)))
    log.info("exported %s: max relative error vs torch %.2e", path, worst)
    if worst > rtol:
        raise AssertionError(
            f"ONNX export of {path.name} differs from torch: rel. error {worst:.2e} > {rtol}"
        )
    return worst


def graph_ops(path: Path) -> set[str]:
    """Operator types in an ONNX file."""
    import onnx

    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def cache_dir() -> Path:
    """Where graphs exported at run time are kept between processes (``XACTOR_CACHE_DIR``)."""
    return Path(os.environ.get("XACTOR_CACHE_DIR", Path.home() / ".cache" / "xactor")) / "onnx"


_keys: dict[tuple[tuple[str, int, int], ...], str] = {}
_export_lock = threading.Lock()


def content_key(files: tuple[Path, ...]) -> str:
    """Hash of ``files`` (weights, and the source that builds the graph from them): names an
    exported graph, so new weights or new code export anew and nothing else does. Hashed once per
    files' version (path, mtime, size), not at every session's start."""
    version = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    if version not in _keys:
        h = hashlib.sha256()
        for path in files:
            h.update(Path(path).read_bytes())
        _keys[version] = h.hexdigest()[:20]
    return _keys[version]


def cached_export(name: str, key: str, export: Callable[[Path], object]) -> Path:
    """``cache_dir()/<name>-<key>.onnx``, made by ``export(path)`` on first use (written beside it
    and renamed, so a concurrent reader never sees half a file)."""
    path = cache_dir() / f"{name}-{key}.onnx"
    with _export_lock:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            result = export(tmp)
            tmp.replace(path)
            log.info("exported %s to %s (%s)", name, path, result)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest(
    path: Path, stage: str, sources: tuple[Path, ...], error: float, axes: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """What a consumer of an exported graph needs without opening it (``xactor build-engine``
    reads it): inputs and outputs (shape with symbolic axes, dtype), ``axes`` (rows per session of
    each symbolic axis), opset, the file's and its sources' SHA-256, the parity error, operators."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(values: Any) -> dict[str, Any]:
        out = {}
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            out[v.name] = {"shape": dims, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name}
        return out

    return {
        "graph": Path(path).name,
        "stage": stage,
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": describe(model.graph.input),
        "outputs": describe(model.graph.output),
        "axes": dict(axes or {}),
        "sha256": sha256(path),
        "sources": {f.name: sha256(f) for f in sources},
        "max_rel_error_vs_torch": error,
        "operators": sorted(graph_ops(path)),
    }
