"""Fresh training crops remixed from isolated sources every batch (`augment.remix` in train-sed).

With few real event recordings the protocol's fixed mixtures show each event at a handful of
offsets, EBRs and backgrounds; remixing (`data.augment.EventRemix`) puts the same events over new
background stretches at new EBRs every batch. `RemixFeed(k, generator)` returns k crops as the
training objective sees the stored ones: normalised log-mel [k, F, M] and per-step targets
[k, S, L] (a step is positive when its centre lies in [onset, offset), as `training.frames`).

Sources come from a manifest of isolated events and backgrounds (a protocol build's
`sources/manifest.csv`); only its `train` split is used, so val and test stay unseen. Events are
trimmed as the protocol trims them (`event_span`: "active" or "single"); the train backgrounds
are joined, in a seeded order, into one stream with equal-power crossfades (as `data join` does),
and each crop takes a random window of it. The event class is drawn uniformly, then a recording of
it, so a class with many clips does not crowd out one with few.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from raresound.data.join import _overlap_add
from raresound.data.manifest import read_manifest
from raresound.data.mixtures import EVENT_SPANS, active_span, loudest_occurrence
from raresound.errors import AudioError, ConfigError, DataError

JOIN_FADE_SECONDS = 0.25


def load_sources(manifest: str | Path, classes, sample_rate: int, event_span: str = "active",
                 seed: int = 0, log=print) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """(class -> trimmed event waveforms, one joined background stream) from a source manifest's
    train split. Unreadable files are skipped with a note; a class without a train event, or no
    train background, is a DataError naming the manifest."""
    from raresound import audio

    if event_span not in EVENT_SPANS:
        raise ConfigError("remix_span", f"{event_span!r} is not one of {EVENT_SPANS}")
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DataError(f"{manifest}: no such source manifest (remix_sources)")
    events: dict[str, list[np.ndarray]] = {c: [] for c in classes}
    backgrounds, skipped = [], []
    trim = active_span if event_span == "active" else loudest_occurrence
    for rec in read_manifest(manifest):
        if rec.split != "train" or (rec.labels and rec.labels[0] not in events):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wave = audio.load(rec.path, sr=sample_rate)
        except AudioError as exc:
            skipped.append(f"{rec.path}: {exc.reason}")
            continue
        if rec.onset is not None and rec.offset is not None:
            wave = wave[int(round(rec.onset * sample_rate)):int(round(rec.offset * sample_rate))]
        if not rec.labels:
            backgrounds.append(wave)
            continue
        span = trim(wave, sample_rate) if wave.size else (0, 0)
        if isinstance(span[0], (int, np.integer)) and span[1] - span[0] >= sample_rate // 100:
            events[rec.labels[0]].append(np.ascontiguousarray(wave[span[0]:span[1]], np.float32))
    if skipped:
        log(f"remix: {len(skipped)} source file(s) skipped, first: {skipped[0]}")
    empty = [c for c, waves in events.items() if not waves]
    if empty:
        raise DataError(f"{manifest}: no usable train event recording of {', '.join(empty)} to remix")
    if not backgrounds:
        raise DataError(f"{manifest}: no train background recording to remix over")
    order = np.random.default_rng(seed).permutation(len(backgrounds))
    waves = [backgrounds[i] for i in order]
    fade = int(JOIN_FADE_SECONDS * sample_rate)
    starts, total = [], 0
    for w in waves:
        start = max(0, total - min(fade, w.size))
        starts.append(start)
        total = start + w.size
    return events, _overlap_add(waves, starts, fade if all(w.size >= fade for w in waves) else 0, total)


class RemixFeed:
    """RemixFeed(remixers, classes, logmel, normalizer, n_frames, step, step_seconds): k fresh crops."""

    def __init__(self, remixers: dict, classes, logmel, normalizer, n_frames: int, step: int, step_seconds: float):
        self.remixers, self.classes = remixers, list(classes)
        self.logmel, self.normalizer = logmel, normalizer
        self.n_frames, self.n_steps, self.step_seconds = n_frames, n_frames // step, step_seconds
        self._labels = sorted(remixers)

    def __call__(self, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        waves, targets = [], np.zeros((k, self.n_steps, len(self.classes)), np.float32)
        centres = (np.arange(self.n_steps) + 0.5) * self.step_seconds
        for i in range(k):
            label = self._labels[int(torch.randint(0, len(self._labels), (1,), generator=generator))]
            clip = self.remixers[label](generator)
            waves.append(clip.wave)
            if clip.label is not None:
                targets[i, (centres >= clip.onset) & (centres < clip.offset), self.classes.index(clip.label)] = 1.0
        with torch.no_grad():
            x = self.logmel(np.stack(waves))[:, :self.n_frames]
        x = torch.as_tensor(self.normalizer.transform(x), dtype=torch.float32)
        return x, torch.from_numpy(targets)


def remix_feed(augment: dict, manifest, classes, feature_config, normalizer, n_frames: int, step: int,
               step_seconds: float, event_span: str = "active", seed: int = 0, log=print) -> RemixFeed | None:
    """The RemixFeed of an `augment` config's `remix` section over `manifest`'s train sources (None: off)."""
    from raresound.data.augment import build_remix, validate_augmentation
    from raresound.features import LogMel

    if "remix" not in validate_augmentation(augment):
        return None
    if manifest is None:
        raise ConfigError("augment.remix", "needs the isolated event and background recordings: remix_sources, "
                                           "a manifest such as a protocol build's sources/manifest.csv")
    sr = feature_config.sample_rate
    events, stream = load_sources(manifest, classes, sr, event_span, seed, log)
    clip_seconds = n_frames * feature_config.hop_length / sr
    remixers = {c: build_remix(augment, [(w, c) for w in waves], [stream], clip_seconds, sr)
                for c, waves in events.items()}
    log(f"remix: fresh crops from {sum(map(len, events.values()))} train event clips ("
        + ", ".join(f"{c} {len(w)}" for c, w in events.items()) + f") over {stream.size / sr / 60:.1f} min "
        f"of joined train background, {event_span} spans")
    return RemixFeed(remixers, classes, LogMel(feature_config), normalizer, n_frames, step, step_seconds)
