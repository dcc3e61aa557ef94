"""A run directory of `train`, and the one place its layout is spelled (`RunDir`):

    RUN/run.json              the store it was trained on, its fingerprint, classes, method, seed
    RUN/config.yaml           the recipe, as first trained
    RUN/normalizer.json       the training split's feature normaliser
    RUN/metrics.jsonl         one row per epoch of every stage (`training.loop.Trainer`)
    RUN/learning_curves.png   drawn from metrics.jsonl (`training.curves`)
    RUN/train.log             validation EER of every detector model at its kept epoch
    RUN/probe.json            the probe's record (method probe)
    RUN/rounds.json           the clustering rounds (methods proposed, lmle)
    RUN/stages/order.json     the stages in the order they were first trained
    RUN/stages/<stage>/       a stage's checkpoints (last, best, final)
    RUN/stages/round<n>-clusters.safetensors   a round's cluster assignment
    RUN/models/<name>/        a model bundle (bundle.json, model.safetensors: `bundle`)
    RUN/eval/<split>/         `evaluate`: eer.json, eer.md, det.png, <model>.scores.npy, targets.npy

A `Trainer` writes its part (metrics.jsonl, stages/) into whatever directory it is given: a run, or
a frame head's or SED model's `training/` folder, which is laid out the same.

The run's readers (`scoring.evaluate_run`, `calibration.calibrate`, `export`) find its bundles and
store here (`find_bundles`, `run_models`, `resolve_store`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from raresound.bundle import BUNDLE_JSON
from raresound.errors import ConfigError, DataError
from raresound.evaluation.report import EER_JSON
from raresound.io import read_json

RUN_JSON = "run.json"


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory (nothing is read or created here)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # ------------------------------------------------------------ top-level files
    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    @property
    def config_yaml(self) -> Path:
        return self.path / "config.yaml"

    @property
    def normalizer(self) -> Path:
        return self.path / "normalizer.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def learning_curves(self) -> Path:
        return self.path / "learning_curves.png"

    @property
    def train_log(self) -> Path:
        return self.path / "train.log"

    @property
    def probe_json(self) -> Path:
        return self.path / "probe.json"

    @property
    def rounds_json(self) -> Path:
        return self.path / "rounds.json"

    def is_run(self) -> bool:
        """Made by `train` (it has a run.json)."""
        return self.run_json.is_file()

    # ------------------------------------------------------------ stages
    @property
    def stages(self) -> Path:
        return self.path / "stages"

    @property
    def stage_order(self) -> Path:
        return self.stages / "order.json"

    def stage(self, name: str) -> Path:
        """A stage's checkpoint folder (its `last`, `best` and `final` checkpoints)."""
        return self.stages / name

    def cluster_round(self, round_no: int) -> Path:
        return self.stages / f"round{round_no}-clusters.safetensors"

    # ------------------------------------------------------------ models
    @property
    def models(self) -> Path:
        return self.path / "models"

    def model(self, name: str) -> Path:
        return self.models / name

    def bundles(self) -> dict[str, Path]:
        """{name: bundle dir} of every saved bundle under models/ ({} when there is none)."""
        if not self.models.is_dir():
            return {}
        return {p.name: p for p in sorted(self.models.glob("*")) if (p / BUNDLE_JSON).is_file()}

    @classmethod
    def of_bundle(cls, bundle_dir: str | Path) -> RunDir | None:
        """The run a bundle belongs to (RUN/models/<name> beside RUN/run.json), or None."""
        run = cls(Path(bundle_dir).resolve().parent.parent)
        return run if run.is_run() else None

    # ------------------------------------------------------------ evaluation
    def eval(self, split: str) -> Path:
        return self.path / "eval" / split

    def eer_json(self, split: str) -> Path:
        return self.eval(split) / EER_JSON

    def det_plot(self, split: str) -> Path:
        return self.eval(split) / "det.png"

    def scores(self, split: str, model: str) -> Path:
        return self.eval(split) / f"{model}.scores.npy"

    def targets(self, split: str) -> Path:
        return self.eval(split) / "targets.npy"


def run_of(bundle_dir: str | Path) -> Path | None:
    """The run directory a bundle belongs to (RUN/models/<name> beside RUN/run.json), or None."""
    run = RunDir.of_bundle(bundle_dir)
    return run.path if run is not None else None


def lock_dir(bundle_dir: str | Path) -> Path:
    """The directory whose lock guards a bundle: its run's, which `train` holds while it saves the
    run's bundles, else the bundle's own."""
    return run_of(bundle_dir) or Path(bundle_dir)


def run_models(run_dir: str | Path) -> dict[str, Path]:
    """{name: bundle dir} of every model of a run."""
    run = RunDir(run_dir)
    found = run.bundles()
    if not found:
        raise DataError(f"{run_dir}: no trained models (expected bundles under {run.models})")
    return found


def find_bundles(path: str | Path, model: str | None = None) -> tuple[dict[str, Path], Path | None]:
    """({name: bundle dir}, run dir or None) for a run directory or a single bundle directory."""
    path = Path(path)
    if (path / BUNDLE_JSON).is_file():
        if model is not None and model != path.name:
            raise ConfigError("model", f"{path} is the bundle {path.name!r}, not {model!r}")
        return {path.name: path}, run_of(path)
    found = RunDir(path).bundles()
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
    run_json = RunDir(run_dir).run_json
    try:
        return Path(read_json(run_json)["store"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{run_json}: cannot read the store path ({exc})") from None
