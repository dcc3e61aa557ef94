import csv
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf

from raresound.data.manifest import ClipRecord, read_manifest
from raresound.data.mixtures import active_span, measured_ebr_db, mix_at_ebr, mix_dataset, rms
from raresound.errors import DataError

SR = 16000


def _tone_burst(seed, total_s=5.0, burst_s=1.0, at_s=1.5, level=0.5):
    """Zero-padded clip with a harmonic burst: the active span is known exactly."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(burst_s * SR)) / SR
    f0 = rng.uniform(300, 700)
    burst = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * np.hanning(t.size) ** 0.2
    x = np.zeros(int(total_s * SR))
    x[int(at_s * SR): int(at_s * SR) + t.size] = level * burst / np.abs(burst).max()
    return x


def _write(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, SR, subtype="PCM_16")
    return str(path)


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    root = tmp_path_factory.mktemp("material")
    rng = np.random.default_rng(0)
    events = [ClipRecord(_write(root / f"ev/{cls}{i}.wav", _tone_burst(10 * j + i)), (cls,), "train", f"{cls}-src{i}")
              for j, cls in enumerate(["dog", "gunshot"]) for i in range(6)]
    long_bg = [ClipRecord(_write(root / f"bg10/{i}.wav", 0.3 * rng.standard_normal(10 * SR)), (), "train", f"bg10-{i}")
               for i in range(6)]
    short_bg = [ClipRecord(_write(root / f"bg5/{i}.wav", 0.05 * rng.standard_normal(5 * SR)), (), "train", f"bg5-{i}")
                for i in range(9)]
    return events, long_bg, short_bg


def _recipe(out):
    with open(out / "mixtures.csv") as fh:
        return list(csv.DictReader(fh))


def test_mix_at_ebr_exact_and_never_clips():
    rng = np.random.default_rng(1)
    bg = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    ev = rng.standard_normal(2000).astype(np.float32)
    for ebr in (-6.0, 0.0, 6.0, 20.0):
        mix = mix_at_ebr(bg, ev, 3000, ebr)
        assert np.max(np.abs(mix)) <= 0.99 + 1e-6
        assert abs(measured_ebr_db(mix, bg, 3000, 5000) - ebr) < 1e-3
    np.testing.assert_array_equal(mix_at_ebr(bg, ev, 0, -6.0)[2000:], bg[2000:])  # only the span changes
    with pytest.raises(DataError, match="does not fit"):
        mix_at_ebr(bg, ev, SR - 100, 0.0)


def test_active_span_trims_padding():
    x = _tone_burst(3)
    start, stop = active_span(x, SR)
    assert abs(start - 1.5 * SR) <= SR // 100 and abs(stop - 2.5 * SR) <= SR // 100
    assert active_span(np.zeros(SR), SR) == (0, 0)


def test_ebr_onset_and_split_integrity(material, tmp_path):
    events, long_bg, _ = material
    result = mix_dataset(events, long_bg, tmp_path, {"dog": 12, "gunshot": 6, "background": 6},
                         resplit=True, seed=4)
    recs = read_manifest(result.manifest)
    assert sum(sum(c.values()) for c in result.counts.values()) == len(recs) == 24
    assert result.skipped == []
    by_path = {r.path: r for r in recs}
    rows = _recipe(tmp_path)
    ebrs = set()
    for row in rows:
        rec = by_path[str(tmp_path / row["path"])]
        mix, _ = sf.read(rec.path)
        assert mix.size == 10 * SR and np.max(np.abs(mix)) <= 0.99 + 1 / 32767
        (piece,) = row["backgrounds"].split(";")  # 10-s material: one piece per clip
        bg_path, bg_start = piece.rsplit("@", 1)
        assert float(bg_start) == 0.0
        if not rec.labels:
            continue
        bg, _ = sf.read(bg_path)
        a, b = int(round(rec.onset * SR)), int(round(rec.offset * SR))
        assert abs((b - a) / SR - 1.0) <= 0.02  # padding trimmed: the 1-s burst is the event
        ebrs.add(float(row["ebr_db"]))
        assert abs(measured_ebr_db(mix, bg, a, b) - float(row["ebr_db"])) < 0.5
    assert ebrs <= {-6.0, 0.0, 6.0} and len(ebrs) >= 2
    # No source recording (event or background) feeds clips of two splits.
    splits_of = defaultdict(set)
    for row in rows:
        for src in [row["event"], *(p.rsplit("@", 1)[0] for p in row["backgrounds"].split(";"))]:
            if src:
                splits_of[src].add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    assert {r.split for r in recs if r.labels == ("dog",)} == {"train", "val", "test"}


def test_two_five_second_backgrounds_per_clip_and_determinism(material, tmp_path):
    events, _, short_bg = material
    kw = dict(counts={"dog": 10, "background": 8}, resplit=True, seed=9)  # 18 jobs: pool path
    mix_dataset(events[:6], short_bg, tmp_path / "a", **kw)
    mix_dataset(events[:6], short_bg, tmp_path / "b", workers=2, **kw)
    for row in _recipe(tmp_path / "a"):
        pieces = [p.rsplit("@", 1)[0] for p in row["backgrounds"].split(";")]
        assert len(pieces) == 2
        if row["split"] == "train":  # 6 of the 9 recordings: enough to never repeat within a clip
            assert pieces[0] != pieces[1]
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    mix_dataset(events[:6], short_bg, tmp_path / "c", **{**kw, "seed": 10})
    assert _recipe(tmp_path / "c") != _recipe(tmp_path / "a")


def test_bad_files_are_skipped_and_reported(material, tmp_path):
    events, long_bg, _ = material
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    bad = ClipRecord(str(broken), ("dog",), "train", "dog-src0")
    result = mix_dataset([*events[:6], bad], long_bg, tmp_path / "out", resplit=True, seed=1)
    assert [p for p, _ in result.skipped] == [str(broken)]
    report = (tmp_path / "out" / "report.csv").read_text()
    assert str(broken) in report and "event:" in report
    # Default counts: one mixture per usable event, one background clip per 10 s of material.
    assert sum(c.get("dog", 0) for c in result.counts.values()) == 6
    assert sum(c.get("background", 0) for c in result.counts.values()) == 6


def test_input_errors(material, tmp_path):
    events, long_bg, _ = material
    with pytest.raises(DataError, match="exactly one label"):
        mix_dataset([ClipRecord("/x.wav", ("dog", "baby"), "train", "s")], long_bg, tmp_path)
    with pytest.raises(DataError, match="must be unlabelled"):
        mix_dataset(events, [events[0]], tmp_path)
    crossing = [events[0], ClipRecord(events[1].path, ("dog",), "test", events[0].source_id)]
    with pytest.raises(DataError, match="source 'dog-src0' is in both 'train' and 'test'"):
        mix_dataset(crossing, long_bg, tmp_path)
    with pytest.raises(DataError, match="no usable background recordings in split 'train'"):
        mix_dataset(events[:1], [ClipRecord(long_bg[0].path, (), "test", "b")], tmp_path)


def _barks(levels=(0.3, 0.6, 0.2), starts=(0.5, 2.0, 3.5), length=0.4, seed=0):
    """Three tone bursts separated by silence: the second is the loudest."""
    x = np.zeros(5 * SR)
    for level, at in zip(levels, starts):
        x += _tone_burst(seed, total_s=5.0, burst_s=length, at_s=at, level=level)
    return x


def test_loudest_occurrence_is_one_burst_of_several():
    from raresound.data.mixtures import loudest_occurrence

    x = _barks()
    start, stop = loudest_occurrence(x, SR)
    assert abs(start - 2.0 * SR) <= SR // 50 and abs(stop - 2.4 * SR) <= SR // 50
    assert active_span(x, SR)[0] <= 0.5 * SR + SR // 100  # "active" keeps all three and their gaps
    # bursts closer than the bridge are one occurrence
    close = _barks(levels=(0.5, 0.6, 0.0), starts=(1.0, 1.45, 4.0))
    start, stop = loudest_occurrence(close, SR)
    assert abs(start - 1.0 * SR) <= SR // 50 and abs(stop - 1.85 * SR) <= SR // 50


def test_single_event_span_mixes_one_occurrence(tmp_path):
    bg = [ClipRecord(_write(tmp_path / f"bg/{i}.wav", 0.05 * np.random.default_rng(i).standard_normal(10 * SR)), (),
                     "train", f"bg{i}") for i in range(3)]
    ev = [ClipRecord(_write(tmp_path / f"ev/{i}.wav", _barks(seed=i)), ("dog",), "train", f"dog{i}") for i in range(3)]
    for span, length in (("active", 3.4), ("single", 0.4)):
        result = mix_dataset(ev, bg, tmp_path / span, {"dog": 3, "background": 0}, event_span=span)
        for rec in read_manifest(result.manifest):
            assert abs(rec.offset - rec.onset - length) <= 0.05, span
    with pytest.raises(Exception, match="event_span"):
        mix_dataset(ev, bg, tmp_path / "x", {"dog": 1}, event_span="loudest")


def test_events_longer_than_the_clip_are_truncated_skipped_or_refused(material, tmp_path):
    # The bursts are 1 s long: a 0.8-s clip is shorter than every event.
    events, long_bg, _ = material
    kw = dict(counts={"dog": 2, "background": 1}, clip_seconds=0.8)
    cut = mix_dataset(events[:3], long_bg, tmp_path / "cut", **kw)  # historical default: cut to the clip
    assert cut.counts["train"] == {"dog": 2, "background": 1}
    skip = mix_dataset(events[:3], long_bg, tmp_path / "skip", **kw, long_events="skip")
    assert skip.counts["train"] == {"background": 1}  # no event fits, none is mixed
    assert [(p, r) for p, r in skip.skipped] == [
        (e.path, "event: event of 1.00 s is longer than the 0.8-s clip (skipped)") for e in events[:3]]
    with pytest.raises(DataError, match=r"dog0\.wav: event of 1\.00 s is longer than the 0\.8-s clip; use longer"):
        mix_dataset(events[:3], long_bg, tmp_path / "refuse", **kw, long_events="error")
    assert not (tmp_path / "refuse").exists()  # refused before anything is written


def test_clip_name_places_the_mixtures(material, tmp_path):
    events, long_bg, _ = material
    res = mix_dataset(events[:2], long_bg, tmp_path, counts={"dog": 2, "background": 1}, clip_seconds=2.0,
                      clip_name=lambda split, cls, i: f"audio/{split}/set/mixture_{split}_{i:04d}.wav")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "audio").rglob("*.wav")) == [
        "audio/train/set/mixture_train_0000.wav", "audio/train/set/mixture_train_0001.wav",
        "audio/train/set/mixture_train_0002.wav"]
    assert {r["path"] for r in _recipe(tmp_path)} == {f"audio/train/set/mixture_train_000{i}.wav" for i in range(3)}
    assert len(read_manifest(res.manifest)) == 3
