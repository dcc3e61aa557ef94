import json
from collections import Counter, defaultdict

import numpy as np
import pytest
import soundfile as sf

from raresound.data import synthetic
from raresound.data.manifest import read_manifest
from raresound.data.synthetic import EVENT_SYNTHS, resolve_counts, synthesize_dataset
from raresound.errors import ConfigError

SR = 16000
SMALL = {"dog": 6, "baby": 4, "gunshot": 4, "background": 8}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return out, synthesize_dataset(out, SMALL, seed=3, workers=1)


def test_manifest_counts_labels_spans_and_audio(small_set):
    out, manifest = small_set
    recs = read_manifest(manifest)
    assert Counter(r.labels[0] if r.labels else "background" for r in recs) == Counter(SMALL)
    for r in recs:
        info = sf.info(r.path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 1, 10 * SR, "PCM_16")
        assert r.duration == 10.0
        if r.labels:
            assert len(r.labels) == 1 and 0 <= r.onset < r.offset <= 10.0
        else:
            assert r.onset is None and r.offset is None
    ebr = json.loads((out / "synthesis.json").read_text())["ebr_db"]
    # The default follows the DCASE 2017 Task 2 recipe: every event at -6, 0 or +6 dB.
    assert len(ebr) == 14 and set(ebr.values()) <= {-6.0, 0.0, 6.0}


def test_sources_never_cross_splits_and_each_class_reaches_each_split(small_set):
    recs = read_manifest(small_set[1])
    splits_of = defaultdict(set)
    for r in recs:
        splits_of[r.source_id].add(r.split)
    assert all(len(s) == 1 for s in splits_of.values())
    for cls in ("dog", "baby", "gunshot"):
        assert {r.split for r in recs if r.labels == (cls,)} == {"train", "val", "test"}


def test_event_is_where_the_manifest_says(tmp_path):
    # At +20 dB EBR the event span must be much louder than the rest of the clip.
    manifest = synthesize_dataset(tmp_path, {"dog": 2, "baby": 2, "gunshot": 2, "background": 0},
                                  seed=5, ebr_db_range=(20, 20), workers=1)
    for r in read_manifest(manifest):
        x, _ = sf.read(r.path)
        a, b = int(r.onset * SR), int(r.offset * SR)
        inside = np.sqrt(np.mean(x[a:b] ** 2))
        outside = np.sqrt(np.mean(np.concatenate([x[:a], x[b:]]) ** 2))
        assert 20 * np.log10(inside / outside) > 12, r.path
        assert np.max(np.abs(x)) <= 0.99 + 1 / 32767


def _digests(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_from_seed_for_any_worker_count(tmp_path):
    counts = {"dog": 5, "baby": 3, "gunshot": 3, "background": 7}  # 18 clips: uses the pool
    synthesize_dataset(tmp_path / "a", counts, seed=11, workers=1)
    synthesize_dataset(tmp_path / "b", counts, seed=11, workers=2)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    synthesize_dataset(tmp_path / "c", counts, seed=12, workers=1)
    c = _digests(tmp_path / "c")
    assert a["audio/dog/dog-00000.wav"] != c["audio/dog/dog-00000.wav"]


def test_flac_output(tmp_path):
    manifest = synthesize_dataset(tmp_path, {"gunshot": 1, "background": 1}, seed=0, audio_format="flac", workers=1)
    for r in read_manifest(manifest):
        assert r.path.endswith(".flac") and sf.info(r.path).format == "FLAC"


def _f0_autocorr(frame):
    """Pitch of a voiced frame: the first autocorrelation peak near the global one (avoids 2*T0)."""
    frame = frame - frame.mean()
    ac = np.correlate(frame, frame, "full")[frame.size - 1:]
    lags = np.arange(SR // 800, SR // 200)
    strong = lags[ac[lags] > 0.9 * ac[lags].max()]
    first = strong[np.concatenate([[True], np.diff(strong) > 1])][0]
    run = strong[(strong >= first) & (strong < first + 10)]
    return SR / run[np.argmax(ac[run])]


def test_baby_cry_pitch_in_range_and_duration():
    for seed in range(6):
        rng = np.random.default_rng(seed)
        fam = synthetic._family("baby", rng)
        x = EVENT_SYNTHS["baby"](fam, SR, rng)
        assert 1.0 <= x.size / SR <= 4.0
        for centre in (0.3, 0.5, 0.7):
            i = int(centre * x.size)
            f0 = _f0_autocorr(x[i: i + 1024])
            assert 290 <= f0 <= 615, (seed, centre, f0)


def test_dog_has_one_to_three_barks_and_gunshot_is_impulsive():
    for seed in range(8):
        rng = np.random.default_rng(seed)
        x = EVENT_SYNTHS["dog"](synthetic._family("dog", rng), SR, rng)
        active = np.abs(x) > 1e-9
        starts = np.count_nonzero(active[1:] & ~active[:-1]) + int(active[0])
        assert 1 <= starts <= 3
        g = EVENT_SYNTHS["gunshot"](synthetic._family("gunshot", rng), SR, rng)
        peak = np.argmax(np.abs(g))
        assert peak < 0.2 * SR  # the blast (or an early reflection) comes first
        tail = g[-SR // 20:]
        assert np.sqrt(np.mean(tail ** 2)) < 0.05 * np.sqrt(np.mean(g[: SR // 20] ** 2))


def test_resolve_counts_from_ratio_and_errors(tmp_path):
    assert resolve_counts(ratio="6:1:2:16", n_clips=25) == {"dog": 6, "baby": 1, "gunshot": 2, "background": 16}
    assert sum(resolve_counts(ratio="2:2:1:26", n_clips=600).values()) == 600
    with pytest.raises(ConfigError, match="counts.*unknown class"):
        resolve_counts({"cat": 3})
    with pytest.raises(ConfigError, match="ratio"):
        resolve_counts(ratio="6:1:2", n_clips=10)
    with pytest.raises(ConfigError, match="ebr_db_range"):
        synthesize_dataset(tmp_path, {"dog": 1}, ebr_db_range=(5, -5))
    with pytest.raises(ConfigError, match="ebr_db"):
        synthesize_dataset(tmp_path, {"dog": 1}, ebr_db=[])


def test_ebr_range_draws_uniformly_inside_it(tmp_path):
    synthesize_dataset(tmp_path, {"dog": 6, "background": 0}, ebr_db_range=(-15, 5), seed=2, workers=1)
    ebr = json.loads((tmp_path / "synthesis.json").read_text())
    assert ebr["ebr_db_range"] == [-15.0, 5.0]
    assert all(-15 <= v <= 5 for v in ebr["ebr_db"].values()) and len(set(ebr["ebr_db"].values())) == 6
    with pytest.raises(ConfigError, match="audio_format"):
        synthesize_dataset(tmp_path, {"dog": 1}, audio_format="mp3")


def test_loud_background_is_scaled_down_not_clipped(tmp_path):
    # DCASE recipe: no clipping. A crackle-heavy family pushed to -3 dBFS RMS would exceed full
    # scale; the rendered file must be scaled down to the peak limit instead.
    family = synthetic._family("background", np.random.default_rng(0))
    family.update(parts=["noise", "crackle"], levels_db={"noise": 0.0, "crackle": 0.0}, level_dbfs=-3.0)
    path = tmp_path / "loud.wav"
    synthetic._render({"seed": 1, "cls": "background", "sr": 16000, "n": 160000, "event_family": None,
                       "background_family": family, "ebr_db": None, "path": str(path), "format": "wav"})
    wave, _ = sf.read(path, dtype="float32")
    assert 0.9 < np.max(np.abs(wave)) <= 0.99 + 1e-4
