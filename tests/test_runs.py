"""`runs.RunDir` owns the layout of a run directory: its paths are where `train` and `evaluate` put
things (a tiny proposed run and a probe run, each with every RunDir path checked on disk), old runs
still resolve (`find_bundles`, `resolve_store`, `run_of`), and no other module spells the layout (a
scan of the string constants of src/raresound)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from helpers import make_bundle, train
from raresound.runs import RunDir, find_bundles, lock_dir, resolve_store, run_models, run_of
from raresound.scoring import evaluate_run, load_eval, load_scores

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_PROPOSED = ["--set", "proposed.n_iter=1", "--set", "proposed.layer_epochs=1", "--set", "proposed.e2e_epochs=1",
                 "--set", "proposed.last_e2e_epochs=1", "--set", "proposed.head_epochs=1",
                 "--set", "proposed.finetune_epochs=1"]


def test_paths_are_fixed_names_under_the_run():
    run = RunDir("some/run")
    assert run.path == Path("some/run") and RunDir(Path("some/run")) == run  # a str becomes a Path
    assert run.run_json == Path("some/run/run.json")
    assert run.config_yaml == Path("some/run/config.yaml")
    assert run.normalizer == Path("some/run/normalizer.json")
    assert run.metrics == Path("some/run/metrics.jsonl")
    assert run.learning_curves == Path("some/run/learning_curves.png")
    assert run.train_log == Path("some/run/train.log")
    assert run.probe_json == Path("some/run/probe.json")
    assert run.rounds_json == Path("some/run/rounds.json")
    assert run.stages == Path("some/run/stages")
    assert run.stage_order == Path("some/run/stages/order.json")
    assert run.stage("baseline") == Path("some/run/stages/baseline")
    assert run.cluster_round(2) == Path("some/run/stages/round2-clusters.safetensors")
    assert run.models == Path("some/run/models") and run.model("proposed2") == Path("some/run/models/proposed2")
    assert run.eval("val") == Path("some/run/eval/val")
    assert run.eer_json("val") == Path("some/run/eval/val/eer.json")
    assert run.det_plot("val") == Path("some/run/eval/val/det.png")
    assert run.scores("val", "baseline") == Path("some/run/eval/val/baseline.scores.npy")
    assert run.targets("val") == Path("some/run/eval/val/targets.npy")
    with pytest.raises(AttributeError):
        run.path = Path("elsewhere")  # frozen


@pytest.fixture(scope="module")
def proposed_run(config, store, tmp_path_factory) -> RunDir:
    run = RunDir(tmp_path_factory.mktemp("proposed") / "run")
    assert train(config, store, run.path, "--method", "proposed", *TINY_PROPOSED) == 0
    evaluate_run(run.path, "val")
    return run


def test_the_trainer_and_evaluate_write_where_rundir_says(proposed_run, store):
    run = proposed_run
    for path in (run.run_json, run.config_yaml, run.normalizer, run.metrics, run.learning_curves, run.train_log,
                 run.rounds_json, run.stage_order, run.cluster_round(1), run.eer_json("val"), run.det_plot("val"),
                 run.targets("val")):
        assert path.is_file(), path
    for path in (run.stages, run.models, run.eval("val")):
        assert path.is_dir(), path
    models = run.bundles()
    assert set(models) == {"proposed1", "proposed2"} and all(models[m] == run.model(m) for m in models)
    for name in models:
        assert run.scores("val", name).is_file()
    for stage in ("round1-layer", "round1-e2e", "proposed1", "proposed2"):
        assert (run.stage(stage) / "final.json").is_file(), stage
    # nothing in the run directory that RunDir does not name (besides the train lock's own files)
    named = {p.name for p in (run.run_json, run.config_yaml, run.normalizer, run.metrics, run.learning_curves,
                              run.train_log, run.rounds_json, run.stages, run.models, run.eval("val").parent)}
    assert {p.name for p in run.path.iterdir() if not p.name.startswith(".")} == named
    # the readers find the same paths
    assert run_models(run.path) == models
    assert find_bundles(run.path) == (models, run.path)
    assert find_bundles(run.model("proposed2")) == ({"proposed2": run.model("proposed2")}, run.path.resolve())
    assert RunDir.of_bundle(run.model("proposed1")) == RunDir(run.path.resolve())
    assert run_of(run.model("proposed1")) == lock_dir(run.model("proposed1")) == run.path.resolve()
    assert resolve_store(run.path, None, run.path) == Path(store).resolve()
    assert set(load_eval(run.path, "val")) == set(models)
    scores, targets = load_scores(run.path, "proposed2", "val")
    assert scores.shape == targets.shape == (16, 2)


def test_a_probe_run_records_its_choice_where_rundir_says(config, store, tmp_path):
    run = RunDir(tmp_path / "probe")
    assert train(config, store, run.path, "--method", "probe") == 0
    assert run.probe_json.is_file() and run.run_json.is_file() and run.normalizer.is_file()
    assert run.bundles() == {"probe": run.model("probe")}


def test_a_bundle_outside_a_run_has_no_run(tmp_path):
    bundle = make_bundle(tmp_path / "loose")
    assert RunDir.of_bundle(bundle) is None and run_of(bundle) is None and lock_dir(bundle) == bundle
    assert RunDir(tmp_path).bundles() == {} and not RunDir(tmp_path).is_run()


# ----------------------------------------------------------- nobody else spells the layout

SRC = Path(__file__).resolve().parent.parent / "src" / "raresound"
# File and directory names of the run layout: a string constant equal to one belongs in runs.py.
LAYOUT_NAMES = {"run.json", "config.yaml", "normalizer.json", "metrics.jsonl", "learning_curves.png", "train.log",
                "probe.json", "rounds.json", "stages", "order.json", "models", "eval"}
# A path join spelled in one string ("models/x", f"{run}/eval/{split}"); "RUN/models/NAME" in help
# text and docstrings documents the layout and builds nothing.
JOIN = re.compile(r"(?:^|(?<!RUN)/)(?:(?:models|eval|stages)/|run\.json\b)")
REPRODUCE = "reproduce: another engineer's files"
# (file under src/raresound, or a folder ending in /; the constant) -> why it may spell it
EXCEPTIONS = {
    ("reproduce/", "eval"): REPRODUCE,  # cell_done and the results tables read eval/test/eer.json
    ("reproduce/", "models"): REPRODUCE,  # frames: RUN/models/<model>-frames
    ("reproduce/", "stages"): REPRODUCE,  # grid: "resumed" when stages/ exists
    ("reproduce/", "run.json"): REPRODUCE,
    ("reproduce/", "metrics.jsonl"): REPRODUCE,
    ("training/recipes.py", "stages"): "a key of the bundle's info (its stage results), not a path",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def layout_strings() -> list[tuple[str, int, str]]:
    """(file, line, constant) of every string constant (f-string parts included, docstrings not)
    that names a run layout file or spells a join into the layout."""
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if node.value in LAYOUT_NAMES or JOIN.search(node.value):
                    hits.append((path.relative_to(SRC).as_posix(), node.lineno, node.value))
    return hits


def _covers(where: str, file: str) -> bool:
    return file == where or (where.endswith("/") and file.startswith(where))


def _excepted(file: str, value: str) -> bool:
    return any(_covers(where, file) and value == const for where, const in EXCEPTIONS)


def test_only_runs_py_spells_the_run_layout():
    stray = [f"{file}:{line}: {value!r}" for file, line, value in layout_strings()
             if file != "runs.py" and not _excepted(file, value)]
    assert not stray, "run layout spelled outside runs.py (use runs.RunDir):\n" + "\n".join(stray)


def test_the_scan_sees_the_layout():
    hits = layout_strings()
    in_runs = {value for file, _, value in hits if file == "runs.py"}
    assert {"run.json", "stages", "models", "eval"} <= in_runs
    assert JOIN.search("/eval/") and JOIN.search("models/x") and JOIN.search("x/run.json")
    assert not JOIN.search("RUN/models/NAME") and not JOIN.search("no run.json (not made by")
    # every exception is still needed: one that matches nothing is stale
    used = {(where, const) for where, const in EXCEPTIONS
            if any(_covers(where, file) and value == const for file, _, value in hits)}
    assert used == set(EXCEPTIONS), set(EXCEPTIONS) - used
