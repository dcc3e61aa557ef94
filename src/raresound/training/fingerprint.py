"""What a run directory was trained with, so that re-running `train` resumes only the same run.

`run.json` records a fingerprint: the sha256 of the resolved config (less the fields below) and the
identity of the store (its build job from meta.json, so a store moved elsewhere is still the same
store). `check_run` compares a request with what the directory says, before anything is written:
the same config resumes; another one is refused with the differing dotted fields. `config.yaml` is
written once, by the run that produced the models, and never rewritten.

Fields allowed to differ between a run and its resume (they change how training is executed, not
what it computes):

- ``training.progress``: progress bars only.
- ``training.num_workers``: loader processes; the batch order is drawn by the seeded sampler in the
  main process, the same for any number of workers.
- ``training.device``: an interrupted run may resume on other hardware from the same checkpoints
  (finished stages are loaded, not recomputed; an unfinished one continues on the new device, whose
  arithmetic may differ in the last bits).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from raresound.errors import ConfigError, DataError, RunMismatchError
from raresound.io import read_json
from raresound.runs import RunDir

ALLOWED_TO_DIFFER = ("training.progress", "training.num_workers", "training.device")
_SHOWN = 6  # differing fields named in the error before "and N more"


def flatten(d: dict, prefix: str = "") -> dict:
    """{'training': {'lr': 1e-3}} -> {'training.lr': 1e-3}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _compared(config: dict) -> dict:
    # through YAML, as config.yaml stores it (tuples become lists)
    flat = flatten(yaml.safe_load(yaml.safe_dump(config, sort_keys=False)))
    return {k: v for k, v in flat.items() if k not in ALLOWED_TO_DIFFER}


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(_compared(config), sort_keys=True).encode()).hexdigest()


def store_identity(store_dir: str | Path) -> str:
    """The store's build job (a hash of its clips, their files and the feature config); a store
    written without one (by hand, by tests) is identified by its meta.json."""
    from raresound.store import FeatureStore

    meta = FeatureStore(store_dir).meta
    if meta.get("job"):
        return str(meta["job"])
    return "meta:" + hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def fingerprint(cfg, store_dir: str | Path) -> dict:
    return {"config": config_hash(cfg.to_dict()), "store": store_identity(store_dir),
            "ignored": list(ALLOWED_TO_DIFFER)}


def _show(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def config_diff(old: dict, new: dict) -> list[str]:
    """['training.max_epochs: 1 -> 3', ...] over the compared fields."""
    a, b = _compared(old), _compared(new)
    missing = object()
    return [f"{k}: {_show(a.get(k, '<absent>'))} -> {_show(b.get(k, '<absent>'))}"
            for k in sorted(set(a) | set(b))
            if a.get(k, missing) != b.get(k, missing)]


def _recorded_config(path: Path) -> dict:
    """config.yaml with today's defaults filled in (a field added since the run was made is not a
    change); as written if it no longer validates."""
    from raresound.training.config import config_from_dict

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        return config_from_dict(raw).to_dict()
    except ConfigError:
        return raw


def check_run(run_dir: str | Path, cfg, store_dir: str | Path) -> None:
    """Raise RunMismatchError if `run_dir` holds a run of another config or store; pass for a new
    directory or the same run (which then resumes). Reads only."""
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    config_path, run_path = run.config_yaml, run.run_json
    recorded = {}
    if run_path.is_file():
        try:
            recorded = read_json(run_path)
        except (OSError, ValueError) as exc:
            raise RunMismatchError(f"{run_path}: unreadable ({exc}); train into a new `run_dir`") from None
    new = cfg.to_dict()
    changes = []
    if config_path.is_file():
        changes = config_diff(_recorded_config(config_path), new)
    stamp = recorded.get("fingerprint") or {}
    if not changes and stamp.get("config") not in (None, config_hash(new)):
        changes = ["config.yaml differs from the config the run was trained with (edited?)"]
    if stamp.get("store"):
        current = store_identity(store_dir)
        if current != stamp["store"]:
            changes.append(f"store: {stamp['store'][:12]} -> {current[:12]} ({store_dir})")
    elif recorded.get("store") and Path(recorded["store"]) != Path(store_dir).resolve():
        changes.append(f"store: {recorded['store']} -> {Path(store_dir).resolve()}")  # a run made before fingerprints
    if changes:
        shown = ", ".join(changes[:_SHOWN]) + (f" and {len(changes) - _SHOWN} more" if len(changes) > _SHOWN else "")
        raise RunMismatchError(f"{run_dir} was trained with another config or store ({shown}); train into a "
                               f"new `run_dir` (this run's config: {config_path})")


def recorded_run(run_dir: str | Path) -> dict:
    """run.json of a run directory ({} when there is none): what its models were trained on."""
    path = RunDir(run_dir).run_json
    if not path.is_file():
        return {}
    try:
        recorded = read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    if not isinstance(recorded, dict):
        raise DataError(f"{path}: not a run record (expected a JSON object)")
    return recorded


def check_store_provenance(run_dir: str | Path, store_dir: str | Path, warn=None) -> None:
    """For the readers of a run's models (evaluate, calibrate, train-frames): a DataError naming the
    store when the store at the path the run was trained on has been rebuilt since (from another
    manifest, with another clip length...): its scores would be new numbers under the old name.

    Another store given on purpose (--data elsewhere) is another data set and passes with a note, as
    does a run made before runs recorded their store's identity (nothing to compare; `warn` gets a line).
    Reads only."""
    warn = warn or _warn
    recorded = recorded_run(run_dir)
    if not recorded:
        return
    stamp = recorded.get("fingerprint") if isinstance(recorded.get("fingerprint"), dict) else {}
    trained_on = recorded.get("store")
    same_path = isinstance(trained_on, str) and Path(trained_on).resolve() == Path(store_dir).resolve()
    if not stamp.get("store"):
        warn(f"{run_dir}: made before runs recorded their store's identity; cannot check that {store_dir} "
             "still holds the features it was trained on")
        return
    current = store_identity(store_dir)
    if current == stamp["store"]:
        return
    if same_path:
        raise DataError(f"{store_dir}: rebuilt since {run_dir} was trained on it (store {stamp['store'][:12]} -> "
                        f"{current[:12]}); rebuild it from the run's manifest and settings, or train again")
    warn(f"{store_dir} is not the store {run_dir} was trained on ({trained_on}); scoring it as another data set")


def _warn(line: str) -> None:
    from raresound.data.checks import warn

    warn([line])
