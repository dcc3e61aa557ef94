"""DDP under torchrun (2 CPU ranks, gloo) against one process with the same GLOBAL batch.

Two `torchrun --nproc_per_node=2 --standalone` launches run this file as their worker script. Through
`raresound.cli.main`: (1) the baseline, 2 ranks x batch 8, the CLI creating and destroying the process
group; (2) the proposed recipe, interrupted mid-epoch on both ranks and resumed by a second `train`
call in the same (worker-owned) group: a process group cannot be re-created after destroy inside one
torchrun worker. Spies dump every rank's weights and clustering. The pytest process trains the same
recipes in one process with batch 16 (DistributedSampler with one replica: the same clips per global
batch) and compares.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from raresound.cli import main as cli_main
from helpers import make_store

pytestmark = pytest.mark.slow  # two-process DDP runs: the longest end-to-end tests

RANKS = 2
BASELINE = ["--method", "baseline", "--set", "training.max_epochs=2"]
# round1-layer, round1-e2e, round2-layer: 1 epoch each; round2-e2e: 3 epochs; then heads, 1 epoch each
PROPOSED = ["--method", "proposed", "--set", "proposed.n_iter=2", "--set", "proposed.layer_epochs=1",
            "--set", "proposed.e2e_epochs=1", "--set", "proposed.last_e2e_epochs=3",
            "--set", "proposed.head_epochs=1", "--set", "proposed.finetune_epochs=1"]
BATCHES_PER_EPOCH = 4  # 64 training clips / global batch 16
KILL_AT = 3 * BATCHES_PER_EPOCH + BATCHES_PER_EPOCH + 2  # round2-e2e, epoch 2, batch 2


def common(config: Path, store: Path, out: Path, batch: int) -> list[str]:
    return ["train", "--config", str(config), "--data", str(store), "--out", str(out), "--no-progress",
            "--device", "cpu", "--set", "model.hidden_size=8", "--set", f"training.batch_size={batch}"]


def write_config(path: Path) -> Path:
    path.write_text("seed: 3\ntraining:\n  patience: 5\n")
    return path


# ------------------------------------------------------------------------------------------ worker
def worker(work: Path, store: Path, job: str) -> int:
    """Runs on every rank under torchrun."""
    torch.set_num_threads(1)
    import torch.distributed as tdist

    from raresound.models.cluster_layer import ClusterLayer
    from raresound.training import distributed as dist
    from raresound.training import proposed, recipes

    rank = int(os.environ["RANK"])
    mine = work / f"rank{rank}"
    mine.mkdir(parents=True, exist_ok=True)
    config = work / "config.yaml"

    save_bundle = recipes.RecipeContext.save_bundle

    def spy_bundle(self, name, model, spec, info=None):
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, mine / f"{name}.safetensors")
        return save_bundle(self, name, model, spec, info)

    cluster_round = proposed.cluster_round

    def spy_round(ctx, model, round_no, class_ids, emb=None):
        result = cluster_round(ctx, model, round_no, class_ids, emb)
        save_file({"centroids": result.centroids.contiguous(), "assignments": result.assignments.contiguous()},
                  mine / f"round{round_no}-clusters-{ctx.run_dir.name}.safetensors")
        return result

    init_from_centroids = ClusterLayer.init_from_centroids
    inits = {"n": 0}

    def spy_init(self, centroids, cluster_class, alpha=None):
        init_from_centroids(self, centroids, cluster_class, alpha)
        inits["n"] += 1
        save_file({"W": self.W.detach().contiguous()}, mine / f"init{inits['n']}-W.safetensors")

    thce_objectives = proposed.thce_objectives
    calls = {"n": 0}

    def dying_thce(ctx, result, val_ids):
        train_objective, val_objective = thce_objectives(ctx, result, val_ids)

        def objective(net, batch):
            calls["n"] += 1
            if calls["n"] == KILL_AT:
                raise KeyboardInterrupt  # on both ranks at the same batch, like a Ctrl-C to torchrun
            return train_objective(net, batch)
        return objective, val_objective

    recipes.RecipeContext.save_bundle = spy_bundle
    proposed.cluster_round = spy_round
    ClusterLayer.init_from_centroids = spy_init

    if job == "baseline":
        status = {"baseline": cli_main(common(config, store, work / "ddp-baseline", 8) + BASELINE),
                  "destroyed": not tdist.is_initialized()}
    else:
        dist.init_from_env("cpu")
        proposed.thce_objectives = dying_thce
        status = {"killed": cli_main(common(config, store, work / "ddp-proposed", 8) + PROPOSED),
                  "kept": tdist.is_initialized()}  # the CLI leaves a caller's group alone
        proposed.thce_objectives = thce_objectives
        status["resumed"] = cli_main(common(config, store, work / "ddp-proposed", 8) + PROPOSED)
        status["inits"] = inits["n"]
        dist.destroy()
    (mine / f"{job}.json").write_text(json.dumps(status))
    return 0


# ------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The 2-rank torchrun job and the two 1-process references (batch 16)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip(f"no torchrun next to {sys.executable}")
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("ddp")
    store = make_store(work / "store")
    config = write_config(work / "config.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    jobs = {}
    for name in ("baseline", "proposed"):
        jobs[name] = subprocess.run([str(torchrun), f"--nproc_per_node={RANKS}", "--standalone", __file__, str(work),
                                     str(store), name], env=env, capture_output=True, text=True, timeout=180)
        assert jobs[name].returncode == 0, jobs[name].stdout[-3000:] + jobs[name].stderr[-3000:]
    assert cli_main(common(config, store, work / "one-baseline", 16) + BASELINE) == 0
    assert cli_main(common(config, store, work / "one-proposed", 16) + PROPOSED) == 0
    return work, jobs


def bundle_weights(run: Path, name: str) -> dict:
    return load_file(str(run / "models" / name / "model.safetensors"))


def rank_file(work: Path, rank: int, name: str) -> dict:
    return load_file(str(work / f"rank{rank}" / name))


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=atol, msg=lambda m, k=key: f"{k}: {m}")


def test_jobs_ran_every_step_and_the_cli_destroys_only_its_own_group(runs):
    work, jobs = runs
    for rank in range(RANKS):
        assert json.loads((work / f"rank{rank}" / "baseline.json").read_text()) == {"baseline": 0, "destroyed": True}
        assert json.loads((work / f"rank{rank}" / "proposed.json").read_text()) == {
            "killed": 130, "kept": True, "resumed": 0,
            "inits": 4}  # rounds 1, 2 before the kill; 1, 2 again (from the stored clusters) on resume
    # rank 0 alone prints the bundles and writes the logs (one row per epoch, not one per rank)
    assert jobs["baseline"].stdout.count("baseline: ") == 1
    assert jobs["proposed"].stdout.count("proposed2: ") == 1
    assert [r["epoch"] for r in metrics(work / "ddp-baseline")] == [1, 2]


def test_two_ranks_match_one_process_with_the_same_global_batch(runs):
    work, _ = runs
    ddp, one = work / "ddp-baseline", work / "one-baseline"
    assert_same(bundle_weights(ddp, "baseline"), bundle_weights(one, "baseline"), atol=1e-5)
    # train and validation losses are all-reduced over ranks: the same numbers as one process
    for a, b in zip(metrics(ddp), metrics(one), strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
        # validation scores are gathered from both ranks: the EER of the whole split
        assert a["val_eer"] == pytest.approx(b["val_eer"], abs=1e-6)


def test_all_ranks_end_with_identical_weights(runs):
    work, _ = runs
    for name in ("baseline", "proposed1", "proposed2"):
        assert_same(rank_file(work, 0, f"{name}.safetensors"), rank_file(work, 1, f"{name}.safetensors"), atol=0)


def test_clustering_round_is_identical_on_every_rank(runs):
    work, _ = runs
    for round_no in (1, 2):
        name = f"round{round_no}-clusters-ddp-proposed.safetensors"
        r0, r1 = rank_file(work, 0, name), rank_file(work, 1, name)
        assert_same(r0, r1, atol=0)
        assert r0["centroids"].shape[0] >= 2  # a real clustering: at least one cluster per class
        stored = load_file(str(work / "ddp-proposed" / "stages" / f"round{round_no}-clusters.safetensors"))
        assert torch.equal(stored["assignments"].long(), r0["assignments"].long())
    for n in (1, 2, 3, 4):  # the rebuilt cluster layer starts from the same broadcast centroids everywhere
        assert_same(rank_file(work, 0, f"init{n}-W.safetensors"), rank_file(work, 1, f"init{n}-W.safetensors"), atol=0)


def test_interrupted_and_resumed_ddp_run_matches_unbroken_one_process_run(runs):
    work, _ = runs
    ddp, one = work / "ddp-proposed", work / "one-proposed"
    rows = metrics(ddp)
    assert [r["epoch"] for r in rows if r["stage"] == "round2-e2e"] == [1, 2, 3]
    assert len(rows) == len(metrics(one))
    for name in ("proposed1", "proposed2"):
        assert_same(bundle_weights(ddp, name), bundle_weights(one, name), atol=1e-4)


if __name__ == "__main__":
    sys.exit(worker(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
