"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a pair `<stem>.safetensors` + `<stem>.json`, each written atomically; the JSON is
written last and names the weights file, so a checkpoint whose JSON exists is always complete.
Optimizer state is flattened into the same safetensors file under `optim/...` keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from raresound.errors import DataError, OutputError
from raresound.io import atomic_path, confined, read_json, write_json


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim/{pid}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if not name.startswith("optim/"):
            continue
        _, pid, key = name.split("/", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_tensor_file(tensors: dict[str, torch.Tensor], path: str | Path,
                     metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically (with string `metadata` in its header); a failed write
    (disk full: safetensors raises its own SafetensorError, not an OSError) is a one-line
    OutputError naming the file."""
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - SafetensorError and friends
            raise OutputError(path, " ".join(str(exc).split())) from None


def save_checkpoint(stem: str | Path, model: torch.nn.Module, optimizer=None, meta: dict | None = None) -> None:
    stem = Path(stem)
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    info: dict[str, Any] = dict(meta or {})
    if optimizer is not None:
        opt_tensors, opt_meta = _flatten_optimizer(optimizer)
        tensors.update(opt_tensors)
        info["optimizer"] = opt_meta
    weights = stem.with_suffix(".safetensors")
    save_tensor_file(tensors, weights)
    info["weights"] = weights.name
    write_json(stem.with_suffix(".json"), info)


def checkpoint_exists(stem: str | Path) -> bool:
    return Path(stem).with_suffix(".json").exists()


def read_meta(stem: str | Path, required: tuple[str, ...] = ()) -> dict:
    """A checkpoint's JSON object; unreadable JSON, another type, or a missing `required` key is a
    one-line DataError naming the file."""
    path = Path(stem).with_suffix(".json")
    try:
        meta = read_json(path)
    except (OSError, ValueError) as exc:  # JSON and UTF-8 decoding errors are ValueErrors
        raise DataError(f"{path}: not a readable checkpoint ({' '.join(str(exc).split())}); "
                        "delete it to start that stage again") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: a checkpoint holds a JSON object, got {type(meta).__name__}")
    missing = [key for key in required if key not in meta]
    if missing:
        raise DataError(f"{path}: checkpoint lacks {', '.join(missing)}; delete it to start that stage again")
    return meta


def load_checkpoint(stem: str | Path, model: torch.nn.Module, optimizer=None, map_location="cpu",
                    required: tuple[str, ...] = ()) -> dict:
    """Load weights (and optimizer state) into existing objects; returns the JSON metadata (which
    must hold the keys `required`)."""
    stem = Path(stem)
    meta = read_meta(stem, ("weights", *required))
    name = meta["weights"]
    # The weights name is input: a plain file name beside the JSON, never a path elsewhere.
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise DataError(f"{stem.with_suffix('.json')}: weights must be a file name beside it, got {name!r}")
    weights = confined(name, stem.parent, "checkpoint weights")
    try:
        tensors = load_file(str(weights), device=str(map_location))
    except Exception as exc:  # safetensors raises several types for a damaged file
        raise DataError(f"{weights}: cannot read checkpoint ({exc})") from None
    model_sd = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    missing, unexpected = model.load_state_dict(model_sd, strict=False)
    if missing or unexpected:
        raise DataError(f"{weights}: checkpoint does not fit the model (missing {missing}, unexpected {unexpected})")
    if optimizer is not None and "optimizer" in meta:
        try:
            optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"{stem.with_suffix('.json')}: optimizer state does not fit ({exc})") from None
    return meta


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    save_tensor_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, path)
