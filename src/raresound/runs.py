"""A run directory of `train`: its model bundles (RUN/models/<name>/bundle.json) and the store it was
trained on (RUN/run.json). Found here once for its readers (`scoring.evaluate_run`, `calibration.calibrate`)."""

from __future__ import annotations

from pathlib import Path

from raresound.bundle import BUNDLE_JSON, run_of
from raresound.errors import ConfigError, DataError
from raresound.io import read_json


def _bundles_under(run_dir: Path) -> dict[str, Path]:
    models = run_dir / "models"
    if not models.is_dir():
        return {}
    return {p.name: p for p in sorted(models.glob("*")) if (p / BUNDLE_JSON).is_file()}


def run_models(run_dir: str | Path) -> dict[str, Path]:
    """{name: bundle dir} of every model of a run."""
    found = _bundles_under(Path(run_dir))
    if not found:
        raise DataError(f"{run_dir}: no trained models (expected bundles under {Path(run_dir) / 'models'})")
    return found


def find_bundles(path: str | Path, model: str | None = None) -> tuple[dict[str, Path], Path | None]:
    """({name: bundle dir}, run dir or None) for a run directory or a single bundle directory."""
    path = Path(path)
    if (path / BUNDLE_JSON).is_file():
        if model is not None and model != path.name:
            raise ConfigError("model", f"{path} is the bundle {path.name!r}, not {model!r}")
        return {path.name: path}, run_of(path)
    found = _bundles_under(path)
    if not found:
        raise DataError(f"{path}: neither a model bundle (no {BUNDLE_JSON}) nor a run with bundles under models/")
    if model is not None:
        if model not in found:
            raise ConfigError("model", f"{path} has no model {model!r} (has {sorted(found)})")
        found = {model: found[model]}
    return found, path


def resolve_store(run_dir: Path | None, store: str | Path | None, what: Path) -> Path:
    """`store` if given, else the store the run was trained on (its run.json)."""
    if store is not None:
        return Path(store)
    if run_dir is None:
        raise DataError(f"{what}: not inside a run directory; pass `store`")
    try:
        return Path(read_json(run_dir / "run.json")["store"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{run_dir / 'run.json'}: cannot read the store path ({exc})") from None
