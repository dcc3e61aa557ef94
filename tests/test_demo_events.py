"""The demo's event-detection step: train-sed on a synthetic store, then the user's path on the
test split joined into one recording (data join -> detect -> evaluate-events -> plot)."""

from __future__ import annotations

import pytest
import yaml

from raresound.commands import demo
from raresound.data.synthetic import synthesize_dataset
from raresound.evaluation.events import read_event_list
from raresound.store import build_store
from raresound.training.sed import sed_config

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_SED = {"model": {"backbone": "crnn", "kwargs": {"channels": [4, 8], "time_pools": [2, 2], "freq_pools": [8, 8],
                                                     "hidden_size": 8}}, "epochs": 1, "crop_seconds": None}


def test_events_step_runs_the_user_commands_on_joined_test_audio(tmp_path, capsys, monkeypatch):
    manifest = synthesize_dataset(tmp_path / "data", {"dog": 12, "baby": 12, "gunshot": 12, "background": 24},
                                  seed=1, clip_seconds=4.0, workers=1)
    build_store(manifest, tmp_path / "store", workers=1, progress=False)
    config = tmp_path / "sed.yaml"
    config.write_text(yaml.safe_dump(TINY_SED))
    monkeypatch.setattr(demo, "JOINED_CLIPS", 5)
    steps = []
    run = demo._events_step(sed_config(yaml.safe_load(config.read_text())), str(config), manifest,
                            tmp_path / "store", tmp_path, steps.append)
    assert (run / "model").is_dir()
    out = capsys.readouterr().out
    assert "| class average |" in out  # evaluate-events' table
    reference = read_event_list(tmp_path / "long.tsv")
    assert {e.filename for e in reference} == {"long.wav"}
    assert (tmp_path / "long-events.tsv").exists() and (tmp_path / "timeline.png").stat().st_size > 0
    commands = [s for s in steps if s.startswith("$ raresound ")]
    assert [c.split()[2] for c in commands] == ["data", "detect", "evaluate-events", "plot"]
