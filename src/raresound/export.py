"""Export a bundle's network (everything after the log-mel front end) to ONNX or TorchScript.

Exported graph: input ``features`` float32 [batch, W, M] = log-mel frames as `LogMel` computes them
(W = frames of one clip, M = mel bands; the batch axis is dynamic) -> output ``scores`` float32
[batch, L] = per-event detection scores in [0, 1] (sigmoid, or softmax event probabilities for
softmax-trained models), directly comparable with the bundle's thresholds. A bundle with a frame head (`train-sed`,
`train-frames`) adds a second output ``frame_scores`` float32 [batch, S, L]: the sigmoid frame
scores of the same pass, one row per step of ``step_seconds`` (side file ``frame_output``, with the
bundle's frame thresholds and stored post-processing), which `detect` decodes into events.

The training-set normaliser IS baked in by default: it is part of the trained model (the weights
are meaningless without it), and baking it leaves a deployer one thing to reimplement, the log-mel
front end, instead of two. `bake_normalizer=False` (`--external-normalizer`) exports the bare
network, whose input must then be (log-mel - mean) / std with the mean/std in the side file.

Next to the model a side file ``<out>.json`` records the classes, thresholds, feature config,
window length, input/output names and shapes, and the normaliser (always, for reference), and the
digest of the weights it was exported from. The bundle lists its exports (`info.exports`), so that
`raresound calibrate` rewrites their thresholds (the graph does not depend on them) and a bundle
saved with other weights marks them ``"stale"`` (`sync_exports`).

ONNX uses the TorchScript-based exporter (`dynamo=False`, opset 17): the dynamo exporter needs
onnxscript, which is not a dependency, while the legacy path handles nn.LSTM and the CNN exactly.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from pathlib import Path

import torch
from torch import nn

from raresound.bundle import BUNDLE_JSON, WEIGHTS, Bundle, saved_digest, weights_digest
from raresound.errors import ConfigError, DataError, OutputError
from raresound.io import atomic_path, confined, read_json, write_json

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
OPSET = 17
INPUT_NAME, OUTPUT_NAME, FRAME_OUTPUT_NAME = "features", "scores", "frame_scores"


class ScoringNetwork(nn.Module):
    """log-mel [B, W, M] -> (normalise) -> detector -> event scores [B, L] (and, with a frame head,
    frame scores [B, S, L] from the same backbone pass)."""

    def __init__(self, bundle: Bundle, bake_normalizer: bool = True):
        super().__init__()
        self.model = copy.deepcopy(bundle.model).cpu().eval()
        self.softmax = bundle.spec.score == "softmax"
        self.bake_normalizer = bake_normalizer
        self.frames = getattr(self.model, "frame_head", None) is not None
        norm = bundle.normalizer
        self.register_buffer("mean", torch.as_tensor(norm.mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(norm.std, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.mean) / self.std if self.bake_normalizer else features
        if self.frames:
            frame_logits, logits = self.model.frame_and_clip_logits(x)
            return torch.sigmoid(logits), torch.sigmoid(frame_logits)
        logits = self.model(x)
        if self.softmax:
            return torch.softmax(logits, dim=1)[:, :-1]
        return torch.sigmoid(logits)


def example_input(bundle: Bundle, batch: int = 2) -> torch.Tensor:
    cfg = bundle.feature_config
    return torch.randn(batch, cfg.n_frames(), cfg.n_mels, generator=torch.Generator().manual_seed(0))


def default_path(bundle_dir: str | Path, fmt: str) -> Path:
    return Path(bundle_dir) / f"model{SUFFIX[fmt]}"


def export_bundle(bundle: Bundle, fmt: str, out: str | Path | None = None, bake_normalizer: bool = True) -> Path:
    """Write the exported network (atomically) and its side file; returns the model path."""
    if fmt not in FORMATS:
        raise ConfigError("fmt", f"must be one of {FORMATS}, got {fmt!r}")
    if out is None:
        if bundle.path is None:
            raise DataError("export: the bundle has no directory; pass an output path")
        out = default_path(bundle.path, fmt)
    out = Path(out)
    if bundle.path is not None:  # the bundle is the input: never export over its own files
        own = {(Path(bundle.path) / name).resolve() for name in (BUNDLE_JSON, WEIGHTS)}
        for path in (out, out.with_name(out.name + ".json")):
            if path.resolve() in own:
                raise OutputError(path, "is a file of the bundle being exported; choose another output path")
    net = ScoringNetwork(bundle, bake_normalizer).eval()
    x = example_input(bundle)
    with warnings.catch_warnings():
        # shape checks in the backbones are constants for a fixed window: tracing them is correct
        warnings.simplefilter("ignore")
        # Serialised in memory, then written by Python: a full disk is then an OSError (a one-line
        # OutputError from atomic_path), where torch's own C++ writer aborts the interpreter.
        buffer = io.BytesIO()
        if fmt == "onnx":
            outputs = [OUTPUT_NAME] + ([FRAME_OUTPUT_NAME] if net.frames else [])
            torch.onnx.export(net, (x,), buffer, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=outputs,
                              dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *outputs]})
            import onnx

            onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
        else:
            with torch.no_grad():
                traced = torch.jit.trace(net, (x,))
            torch.jit.save(traced, buffer)
        with atomic_path(out) as tmp:
            tmp.write_bytes(buffer.getvalue())
    cfg = bundle.feature_config
    side = out.with_name(out.name + ".json")
    write_json(side, {
        "format": fmt,
        "model": out.name,
        "bundle": str(Path(bundle.path).resolve()) if bundle.path else None,
        "weights_sha256": weights_digest(bundle.model.state_dict()),
        "classes": list(bundle.classes),
        "thresholds": dict(bundle.thresholds),
        "calibration": bundle.info.get("calibration", {}).get("target"),
        "score": bundle.spec.score,
        "input": {"name": INPUT_NAME, "shape": ["batch", cfg.n_frames(), cfg.n_mels], "dtype": "float32",
                  "content": "log-mel frames from raresound.features.LogMel" +
                             ("" if bake_normalizer else ", normalised: (x - normalizer.mean) / normalizer.std")},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(bundle.classes)], "dtype": "float32"},
        "normalizer_baked_in": bake_normalizer,
        "normalizer": bundle.normalizer.to_dict(),
        "feature_config": cfg.to_dict(),
        "opset": OPSET if fmt == "onnx" else None,
        "frame_output": _frame_output(bundle, x) if net.frames else None,
    })
    if bundle.path is not None:
        _register_export(Path(bundle.path), side)
    return out


def _frame_output(bundle: Bundle, x: torch.Tensor) -> dict:
    with torch.no_grad():
        steps = int(bundle.model.frame_logits(x[:1]).shape[1])
    frames = bundle.info.get("frames", {})
    return {"name": FRAME_OUTPUT_NAME, "shape": ["batch", steps, len(bundle.classes)], "dtype": "float32",
            "step_seconds": bundle.feature_config.seconds(bundle.model.step_frames),
            "frame_thresholds": bundle.info.get("frame_thresholds"), "postprocessing": frames.get("postprocessing")}


def _register_export(bundle_dir: Path, side: Path) -> None:
    """List the side file in the bundle's `info.exports` (so that `calibrate` rewrites it), then
    bring it in line with bundle.json as `calibrate` would: a bundle object loaded before a
    calibrate rewrote bundle.json (an export without the run's lock, from Python) must not leave a
    side file with older thresholds than the bundle's, unmarked."""
    meta = read_json(bundle_dir / BUNDLE_JSON)
    exports = meta.setdefault("info", {}).setdefault("exports", [])
    if str(side.resolve()) not in exports:
        exports.append(str(side.resolve()))
        # A read-only (shared) bundle can still be exported; nobody can recalibrate it either.
        with contextlib.suppress(PermissionError):
            write_json(bundle_dir / BUNDLE_JSON, meta)
    _sync_side_file(side, meta, saved_digest(bundle_dir, meta))


STALE = "exported from other weights than the bundle now holds; export it again"


def _export_side_file(path, bundle_dir: Path) -> Path | None:
    """The side file at `path` (an entry of the bundle's `info.exports`) if this bundle may rewrite
    it, else None. A bundle is input: its list of exports must not turn `calibrate` into a write to
    any JSON file it names. Allowed are side files inside the bundle directory, and side files
    elsewhere (`export --out`) that are an export side file of this very bundle (its `bundle` field
    names this directory); anything else is skipped."""
    if not isinstance(path, str) or not path.endswith(".json"):
        return None
    try:
        return confined(path, bundle_dir, "export side file")
    except DataError:
        pass
    try:
        side = read_json(path)
        named = side.get("bundle") if isinstance(side, dict) else None
        if isinstance(named, str) and side.get("format") in FORMATS and \
                Path(named).resolve() == bundle_dir.resolve() and not Path(path).is_symlink():
            return Path(path)
    except (OSError, ValueError):
        pass
    return None


def sync_exports(bundle_dir: str | Path) -> list[tuple[str, str]]:
    """Bring the side files of a bundle's exports up to date with its bundle.json: exports of the
    same weights get the current thresholds ('updated'), exports of other weights a "stale" note
    ('stale'); side files that are gone are skipped, and so are files the bundle may not rewrite
    (`_export_side_file`: 'skipped'). Returns (side file, state) for each one."""
    bundle_dir = Path(bundle_dir)
    meta = read_json(bundle_dir / BUNDLE_JSON)
    digest = saved_digest(bundle_dir, meta)
    done = []
    exports = meta.get("info", {}).get("exports", []) if isinstance(meta.get("info"), dict) else []
    for path in exports if isinstance(exports, list) else []:
        allowed = _export_side_file(path, bundle_dir)
        state = "skipped" if allowed is None else _sync_side_file(allowed, meta, digest)
        if state is not None:
            done.append((str(path) if allowed is None else path, state))
    return done


def _sync_side_file(side_path: Path, meta: dict, digest: str | None) -> str | None:
    """Rewrite one side file after the bundle.json `meta` (weights `digest`): 'updated' (its
    thresholds are the bundle's), 'stale' (it was exported from other weights), 'skipped' (not a
    side file), None (gone or unreadable)."""
    try:
        side = read_json(side_path)
    except (OSError, ValueError):
        return None
    if not isinstance(side, dict):
        return "skipped"
    if side.get("weights_sha256") == digest:
        side.pop("stale", None)
        side["thresholds"] = dict(meta.get("thresholds", {}))
        side["calibration"] = meta.get("info", {}).get("calibration", {}).get("target")
        state = "updated"
    else:
        side["stale"] = STALE
        state = "stale"
    write_json(side_path, side)
    return state
