"""What an output directory was trained with, recorded beside its checkpoints, so that a re-run into
the same directory resumes only under the same settings. The trainer never retrains a finished stage
(that is what makes a killed run resume), so without this check a second run with another store,
config or option would exit 0 with the first run's weights under the second run's name."""

from __future__ import annotations

from pathlib import Path

from raresound.errors import RunMismatchError
from raresound.io import read_json, write_json

SETTINGS = Path("training") / "settings.json"
# Compared by identity (a digest beside them), not path: a store or bundle moved elsewhere is the same one.
BY_IDENTITY = ("bundle", "store")


def check_settings(out_dir: Path, settings: dict, markers: tuple[str, ...] = ("bundle.json", "training")) -> None:
    """A RunMismatchError when `out_dir` holds an output of other settings (or of unknown ones: any
    of `markers` exists but no record, i.e. made before settings were recorded); pass for a new
    directory or the same settings (which then resume). Reads only."""
    path = out_dir / SETTINGS
    if not path.is_file():
        if any((out_dir / m).exists() for m in markers):
            raise RunMismatchError(f"{out_dir}: holds a trained output or its checkpoints but no record of their "
                                   f"settings ({path}); train into a new `out_dir`")
        return
    try:
        recorded = read_json(path)
        if not isinstance(recorded, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise RunMismatchError(f"{path}: unreadable ({exc}); train into a new `out_dir`") from None
    # Over both records' keys: a field the new settings no longer have (a nested option removed) is a change too.
    keys = [k for k in dict.fromkeys([*settings, *recorded]) if k not in BY_IDENTITY]
    changes = [f"{k}: {recorded.get(k)!r} -> {settings.get(k)!r}" for k in keys if recorded.get(k) != settings.get(k)]
    if changes:
        raise RunMismatchError(f"{out_dir} was trained with other settings ({', '.join(changes)}; recorded in "
                               f"{path}); train into a new `out_dir`, or delete it to retrain")


def store_settings(store_dir: str | Path) -> dict:
    """The store part of a settings record: its path (for the reader) and its build identity (compared)."""
    from raresound.training.fingerprint import store_identity

    return {"store": str(Path(store_dir).resolve()), "store_identity": store_identity(store_dir)}


def record_settings(out_dir: Path, settings: dict) -> None:
    """Write the record (after `check_settings` passed); a resume with the same record leaves the file alone."""
    path = out_dir / SETTINGS
    try:
        if path.is_file() and read_json(path) == settings:
            return
    except (OSError, ValueError):
        pass
    write_json(path, settings)
