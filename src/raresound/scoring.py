"""Score a store split with every model of a run, and evaluate: the model → scores → metrics leg.

Scores are kept on disk (`RUN/eval/<split>/<model>.scores.npy`, plain numpy, no pickle) so that
comparisons and bootstrap statistics never re-run a network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from raresound.bundle import Bundle, load_bundle
from raresound.data.checks import check_scored_split, warn
from raresound.errors import DataError
from raresound.evaluation import evaluate_scores, plot_scored_det, write_eer_report
from raresound.io import atomic_path, read_json
from raresound.runs import RunDir, resolve_store, run_models
from raresound.store import FeatureStore
from raresound.training.fingerprint import check_store_provenance


@torch.no_grad()
def score_split(bundle: Bundle, split, batch_size: int = 64) -> np.ndarray:
    out = []
    for start in range(0, len(split), batch_size):
        feats = torch.from_numpy(np.asarray(split.features[start:start + batch_size], dtype=np.float32))
        out.append(bundle.score_features(feats).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(bundle.classes)), np.float32)


def check_features(bundle: Bundle, store: FeatureStore, bundle_dir: str | Path) -> None:
    """A DataError naming the store when its features are not those the bundle was trained on (a
    10-s model would otherwise score 2-s clips, or 8-kHz features, and print numbers)."""
    mine, theirs = bundle.feature_config.to_dict(), store.feature_config.to_dict()
    if mine == theirs:
        return
    diff = ", ".join(f"{k} {theirs.get(k)!r} (model {mine.get(k)!r})" for k in sorted(set(mine) | set(theirs))
                     if mine.get(k) != theirs.get(k))
    raise DataError(f"{store.out_dir}: features differ from those {bundle_dir} was trained on: {diff}")


def checked_bundles(paths: dict[str, Path], store: FeatureStore, device: str = "cpu") -> dict[str, Bundle]:
    """{name: bundle} for the bundles at `paths`, each checked to score this store (its classes and
    features), all before any of them scores a clip."""
    bundles = {}
    for name, path in paths.items():
        bundle = load_bundle(path, device=device)
        if bundle.classes != list(store.classes):
            raise DataError(f"{path}: model classes {bundle.classes} differ from the store's {store.classes}")
        check_features(bundle, store, path)
        bundles[name] = bundle
    return bundles


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def evaluate_run(run_dir: str | Path, split: str = "test", store_dir: str | Path | None = None,
                 device: str = "cpu", log: Callable[[str], None] | None = None) -> dict:
    """Score `split` with every model bundle in the run; write scores, eer.json/md and a DET plot.
    The split's positives/negatives per class go to `log`; a split without positives (or negatives)
    of a class fails before anything is written (data.checks). Nothing is written until every
    model is scored, so a failure leaves no partial RUN/eval/<split>/."""
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory")
    if store_dir is None and not run.is_run():
        raise DataError(f"{run_dir}: no {run.run_json.name} (not made by `raresound train`?); pass `store_dir`")
    store_dir = resolve_store(run_dir, store_dir, run_dir)
    store = FeatureStore(store_dir)
    notes: list[str] = []  # printed once every check has passed: an error stays the only line
    check_store_provenance(run_dir, store_dir, warn=notes.append)
    if split not in store.splits:
        raise DataError(f"{store_dir}: no split '{split}' (have {store.splits})")
    bundles = checked_bundles(run_models(run_dir), store, device)
    warn(notes)
    data = store.split(split)
    check_scored_split(split, data.labels, store.classes, where=str(store_dir), log=log)
    out_dir = run.eval(split)
    results, scored = {}, {}
    for name, bundle in bundles.items():
        scores = score_split(bundle, data)
        results[name] = evaluate_scores(scores, data.labels, store.classes)
        scored[name] = (scores, data.labels)
    for name, (scores, _) in scored.items():
        _save_npy(run.scores(split, name), scores.astype(np.float32))
    _save_npy(run.targets(split), np.asarray(data.labels, dtype=np.float32))
    write_eer_report(results, out_dir, list(store.classes))
    plot_scored_det(scored, list(store.classes), run.det_plot(split), title=f"{run_dir.name}: DET ({split})")
    return results


def load_eval(run_dir: str | Path, split: str = "test") -> dict:
    path = RunDir(run_dir).eer_json(split)
    if not path.exists():
        raise DataError(f"{run_dir}: not evaluated on '{split}' yet (run `raresound evaluate {run_dir} --split {split}`)")
    try:
        return read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def load_scores(run_dir: str | Path, model: str, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    run = RunDir(run_dir)
    return _load_npy(run.scores(split, model)), _load_npy(run.targets(split))


def _load_npy(path: Path) -> np.ndarray:
    """A plain numeric array; pickled objects (never written here) and junk are one-line errors."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: not found (run `raresound evaluate` again)") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a plain numpy array ({' '.join(str(exc).split())})") from None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path}: expected a 2-D numeric array")
    return array
