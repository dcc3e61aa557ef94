"""training.remix_feed: fresh crops remixed from isolated train sources every batch (augment.remix)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from raresound.data.manifest import ClipRecord, write_manifest
from raresound.errors import ConfigError, DataError
from raresound.features import FeatureConfig, LogMel, Normalizer
from raresound.training.remix_feed import JOIN_FADE_SECONDS, load_sources, remix_feed

SR = 16000
CFG = FeatureConfig(clip_seconds=2.0)
TONE_BAND = int(LogMel(CFG)(np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)).mean(dim=0).argmax())  # 1 kHz


def _sources(root, val_event=True, train_event=True):
    """A 0.5-s 1-kHz tone padded with 0.3 s of silence (train), another in val, three 1-s noise backgrounds."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.5 * SR)) / SR
    tone = np.concatenate([np.zeros(int(0.3 * SR)), 0.5 * np.sin(2 * np.pi * 1000 * t), np.zeros(int(0.3 * SR))])
    records = []
    for name, split, wanted in (("tone_train", "train", train_event), ("tone_val", "val", val_event)):
        if wanted:
            sf.write(root / f"{name}.wav", tone.astype(np.float32), SR)
            records.append(ClipRecord(str(root / f"{name}.wav"), ("tone",), split, name, 1.1))
    for i in range(3):
        sf.write(root / f"bg{i}.wav", (0.05 * rng.standard_normal(SR)).astype(np.float32), SR)
        records.append(ClipRecord(str(root / f"bg{i}.wav"), (), "train", f"bg{i}", 1.0))
    sf.write(root / "broken.wav", np.zeros(0, np.float32), SR)
    records.append(ClipRecord(str(root / "broken.wav"), (), "train", "broken", 0.0))
    write_manifest(records, root / "manifest.csv")
    return root / "manifest.csv"


def test_sources_are_the_train_split_trimmed_and_joined(tmp_path):
    notes = []
    events, stream = load_sources(_sources(tmp_path), ["tone"], SR, log=notes.append)
    assert len(events["tone"]) == 1  # the val tone is not used
    assert abs(events["tone"][0].size - 0.5 * SR) <= 0.02 * SR  # silence trimmed to the tone
    fade = int(JOIN_FADE_SECONDS * SR)
    assert stream.size == 3 * SR - 2 * fade  # three 1-s backgrounds overlapped by the crossfades
    assert notes and "broken.wav" in notes[0]  # the empty file is skipped with a note
    assert 0.8 < np.sqrt(np.mean(stream[fade:-fade] ** 2)) / 0.05 < 1.2  # level holds through the joins


def test_feed_targets_mark_the_remixed_tone_and_are_reproducible(tmp_path):
    manifest = _sources(tmp_path)
    normalizer = Normalizer(np.zeros(64, np.float32), np.ones(64, np.float32))
    feed = remix_feed({"remix": {"p": 1.0, "ebr_db": [6.0]}}, manifest, ["tone"], CFG, normalizer,
                      n_frames=200, step=4, step_seconds=0.04, log=lambda *_: None)
    x, y = feed(6, torch.Generator().manual_seed(1))
    assert x.shape == (6, 200, 64) and y.shape == (6, 50, 1)
    for b in range(6):
        on = y[b, :, 0].numpy() > 0
        assert 11 <= on.sum() <= 14  # 0.5 s of 40-ms steps
        band = x[b, :, TONE_BAND].reshape(50, 4).mean(dim=1).numpy()
        assert band[on].min() > band[~on].max()  # the tone is where the targets say
    again = feed(6, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], x) and torch.equal(again[1], y)
    silent = remix_feed({"remix": {"p": 0.0}}, manifest, ["tone"], CFG, normalizer, 200, 4, 0.04,
                        log=lambda *_: None)
    assert silent(3, torch.Generator().manual_seed(1))[1].sum() == 0


def test_feed_features_are_the_normalised_logmel_of_the_remix(tmp_path):
    normalizer = Normalizer(np.full(64, -3.0, np.float32), np.full(64, 2.0, np.float32))
    feed = remix_feed({"remix": {"p": 1.0}}, _sources(tmp_path), ["tone"], CFG, normalizer, 200, 4, 0.04,
                      log=lambda *_: None)
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    x, _ = feed(1, g)
    g.set_state(state)
    int(torch.randint(0, 1, (1,), generator=g))  # the class draw
    wave = feed.remixers["tone"](g).wave
    expected = (LogMel(CFG)(wave)[:200] + 3.0) / 2.0
    assert torch.allclose(x[0], expected, atol=1e-5)


def test_remix_errors_name_what_is_missing(tmp_path):
    with pytest.raises(ConfigError, match="augment.remix"):
        remix_feed({"remix": {}}, None, ["tone"], CFG, Normalizer(), 200, 4, 0.04)
    assert remix_feed({"gain": None}, None, ["tone"], CFG, Normalizer(), 200, 4, 0.04) is None
    with pytest.raises(DataError, match="no such source manifest"):
        load_sources(tmp_path / "nope.csv", ["tone"], SR)
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="no usable train event recording of tone"):
        load_sources(_sources(tmp_path / "a", train_event=False), ["tone"], SR, log=lambda *_: None)
    with pytest.raises(ConfigError, match="remix_span"):
        load_sources(_sources(tmp_path), ["tone"], SR, event_span="all")


def test_train_sed_with_remix_trains_and_records_its_sources(tmp_path):
    from raresound.errors import RunMismatchError
    from raresound.training.sed import train_sed
    from test_frames import _event_store
    from test_sed import SMALL

    store, _ = _event_store(tmp_path, counts=(("train", 8), ("val", 6)))
    (tmp_path / "src").mkdir()
    manifest = _sources(tmp_path / "src")
    cfg = {**SMALL, "epochs": 1, "remix_clips": 4, "augment": {"remix": {"p": 0.5}}}
    lines = []
    train_sed(store, tmp_path / "run", cfg, remix_sources=manifest, progress=False, log=lines.append)
    assert any(line.startswith("remix: fresh crops from 1 train event clips (tone 1)") for line in lines)
    with pytest.raises(RunMismatchError, match="remix_span"):
        train_sed(store, tmp_path / "run", cfg, remix_sources=manifest, remix_span="single", progress=False,
                  log=lambda *_: None)
    with pytest.raises(ConfigError, match="augment.remix"):
        train_sed(store, tmp_path / "other", cfg, progress=False, log=lambda *_: None)
