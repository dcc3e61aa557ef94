"""The DCASE 2017 Task 2 data protocol: per class a devtrain and a devtest set of 30-s mixtures.

`build_protocol(source, out_dir, ...)` writes, for each event class, a devtrain set and a devtest
set of `per_class` mixtures each (DCASE: 500 + 500), a fraction `presence` (0.5) of them holding
one event of that class (uniform onset such that the whole event fits, EBR drawn from -6/0/+6 dB;
`mixtures.mix_dataset` does the mixing, EBR and anti-clipping), the rest background only.
devtrain is split into "train" and "val" by source recording (a `val_fraction` of devtrain's
events and backgrounds), devtest is "test"; no event or background recording is in two splits.

Each class is scored on its own set, as in DCASE, so `ProtocolData.sets[split][cls]` lists the
mixtures of class cls's set: its event mixtures *and* its background-only mixtures. In the manifest
a background-only mixture is unlabelled; its set is in its file name,
`audio/<split>/<cls>/mixture_<split>_<cls>_<index>.wav`.

Sources (`PROTOCOL_SOURCES`):
* "synth": isolated procedural events (`synthetic.EVENT_SYNTHS`) and background recordings
  (`synthetic._background`) are rendered into out_dir/sources/ (WAV + sources/manifest.csv, one
  parameter family = one source recording), then mixed. No download.
* "esc50": real events from ESC-50 (`esc50-subset` + `esc50-more`: dog, crying_baby) and
  UrbanSound8K (`urbansound8k-subset`: gun_shot, dog_bark) over backgrounds of ESC-50's other 47
  classes (glass_breaking is left out). Source ids are Freesound ids (`freesound-<id>`: ESC-50's
  src_file and UrbanSound8K's fsID are both Freesound ids, so a recording in both data sets is one
  source and stays in one split).
* "dcase2017": the TUT Rare Sound Events 2017 development mixtures under `dcase_root` (nothing
  is mixed; `per_class` caps each set). devtrain -> train/val, devtest -> test. Val is split by the
  isolated event and background recordings named in the mixture recipes (YAML) when present: a
  val_fraction of each class's event recordings and of the background recordings go to val, and a
  devtrain mixture whose event and background fall on different sides is dropped (counted in the
  notes: the official mixtures reuse both); without
  recipes, by mixture, with a note in protocol.json that mixtures reuse events.

Written next to the manifest: `protocol.json` (settings, their fingerprint, sets, source counts,
skipped sources, notes), `mixtures.csv` (the recipe of every mixture), `report.csv` (skipped
source files), and for mixed sources `sources/manifest.csv` (the isolated events and backgrounds
with their splits: what on-the-fly remixing needs).

Caching: protocol.json is written last. A later call with the same settings (fingerprint) returns
the existing data without mixing. A directory holding a finished build with other settings is
refused (ConfigError: use another out dir, or delete it); an unfinished build (killed) is rebuilt
over when its settings are the same, refused otherwise. A non-empty directory that is not a
protocol build is refused too; nothing is deleted by this module.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from raresound.data.manifest import SPLITS, ClipRecord, read_manifest, write_manifest
from raresound.data.merge import freesound_source
from raresound.data.mixtures import EVENT_SPANS, mix_dataset, write_clip
from raresound.data.ratio import BACKGROUND, split_by_source, stable_seed
from raresound.data.sources.paper_classes import PAPER_CLASSES, paper_class_records
from raresound.errors import ConfigError, DataError
from raresound.io import dir_lock, read_json, write_csv, write_json

PROTOCOL_SOURCES = ("synth", "esc50", "dcase2017")
PROTOCOL_FILE = "protocol.json"
PARTIAL_FILE = ".protocol-partial.json"  # the settings of a build in progress (removed when done)
FORMAT_VERSION = 1
SAMPLE_RATE = 16000
DEFAULT_TEST_FRACTION = 0.5  # share of the source recordings that go to devtest

# synth: the most families (source recordings) per event class and of backgrounds, renders per
# event family, and background files per family (each `BACKGROUND_FILE_CLIPS` clips long).
SYNTH_CLASSES = ("baby", "dog", "gunshot")
SYNTH_FAMILIES = 40
SYNTH_MIN_FAMILIES = 6
MIXTURES_PER_FAMILY = 12.5  # per_class / this = families (500 -> 40)
EVENT_RENDERS = 4
BACKGROUND_FILES = 2
BACKGROUND_FILE_CLIPS = 2

# esc50: the paper's classes from real audio (data.sources.paper_classes owns the folders and labels).
ESC50_CLASSES = PAPER_CLASSES

_MIXTURE_NAME = re.compile(r"^mixture_(devtrain|devtest|evaltest)_([A-Za-z]+)_(\d+)")


@dataclass(frozen=True)
class ProtocolData:
    manifest: Path                                   # manifest.csv of all mixtures (train / val / test)
    classes: list[str]                               # sorted event classes, e.g. ["baby", "dog", "gunshot"]
    sets: dict[str, dict[str, list[str]]]            # split -> class -> absolute mixture paths of its set
    sources: dict[str, dict[str, int]]               # split -> class and "background" -> source recordings
    settings: dict = field(default_factory=dict)     # what was asked (protocol.json "settings")
    source_manifest: Path | None = None              # isolated events + backgrounds (mixed sources only)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source file, why it was not used)
    notes: list[str] = field(default_factory=list)

    @property
    def out_dir(self) -> Path:
        return self.manifest.parent

    def summary(self) -> str:
        """A Markdown table: mixtures (with an event) and source recordings per split and class."""
        lines = [f"protocol `{self.settings.get('source')}` in {self.out_dir}", "",
                 "| split | class | mixtures | with event | event sources | background sources |",
                 "|---|---|---:|---:|---:|---:|"]
        records = {r.path: r for r in read_manifest(self.manifest)}
        for split in SPLITS:
            for cls in self.classes:
                paths = self.sets.get(split, {}).get(cls, [])
                events = sum(bool(records[p].labels) for p in paths if p in records)
                lines.append(f"| {split} | {cls} | {len(paths)} | {events} | "
                             f"{self.sources.get(split, {}).get(cls, 0)} | "
                             f"{self.sources.get(split, {}).get(BACKGROUND, 0)} |")
        if self.skipped:
            lines += ["", f"{len(self.skipped)} source file(s) not used (report.csv)"]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def build_protocol(source: str, out_dir, *, per_class: int = 500, clip_seconds: float = 30.0,
                   presence: float = 0.5, ebr_db=(-6.0, 0.0, 6.0), val_fraction: float = 0.2,
                   seed: int = 0, data_root="../shared/data", dcase_root=None, workers: int = 1,
                   event_span: str = "active", test_fraction: float = DEFAULT_TEST_FRACTION,
                   train_sources: float = 1.0) -> ProtocolData:
    """Build (or return the cached) DCASE 2017 Task 2 protocol data under out_dir (module doc).

    per_class: mixtures in each class's devtrain set and in its devtest set; devtrain's are shared
    between train and val by `val_fraction`. presence: the share of a set's mixtures holding an
    event. ebr_db: the EBRs (dB) each event mixture draws one of. test_fraction: the share of
    source recordings that go to devtest (synth, esc50). workers: processes for rendering and
    mixing (the output does not depend on it). event_span: "active" or "single" (mix_dataset).
    train_sources: the share of each class's train event recordings that are mixed into train (a
    learning curve over sources: nested subsets, val and test unchanged; synth, esc50).
    Events longer than the clip are skipped and reported (protocol.json "skipped")."""
    settings = _settings(source, per_class, clip_seconds, presence, ebr_db, val_fraction, seed,
                         data_root, dcase_root, event_span, test_fraction, train_sources)
    out = Path(os.path.abspath(out_dir))
    cached = _cached(out, settings)
    if cached is not None:
        return cached
    with dir_lock(out, "protocol build"):
        cached = _cached(out, settings)  # another process may have finished it meanwhile
        if cached is not None:
            return cached
        _claim(out, settings)
        if source == "dcase2017":
            data = _build_dcase2017(out, settings)
        else:
            events, backgrounds, skipped, classes = (_synth_sources(out, settings, workers) if source == "synth"
                                                     else _esc50_sources(settings))
            events = train_subset(events, settings.get("train_sources", 1.0), settings["seed"])
            data = _mix_protocol(out, settings, classes, events, backgrounds, skipped, workers)
        (out / PARTIAL_FILE).unlink(missing_ok=True)
        return data


# ---------------------------------------------------------------------------------------------
# Settings, fingerprint, cache


def _settings(source, per_class, clip_seconds, presence, ebr_db, val_fraction, seed, data_root,
              dcase_root, event_span, test_fraction, train_sources=1.0) -> dict:
    if source not in PROTOCOL_SOURCES:
        raise ConfigError("source", f"{source!r} is not one of {', '.join(PROTOCOL_SOURCES)}")
    if not isinstance(per_class, (int, np.integer)) or isinstance(per_class, bool) or per_class < 1:
        raise ConfigError("per_class", f"must be a positive integer, got {per_class!r}")
    if not (isinstance(clip_seconds, (int, float)) and math.isfinite(clip_seconds) and clip_seconds > 0):
        raise ConfigError("clip_seconds", f"must be a positive number of seconds, got {clip_seconds!r}")
    if source == "synth" and clip_seconds <= 4.0:
        raise ConfigError("clip_seconds", f"synthetic events last up to 4 s; clips must be longer, got {clip_seconds}")
    if not (isinstance(presence, (int, float)) and 0.0 <= presence <= 1.0):
        raise ConfigError("presence", f"must be a fraction in [0, 1], got {presence!r}")
    ebrs = [float(v) for v in ebr_db] if isinstance(ebr_db, (list, tuple)) else None
    if not ebrs or not all(math.isfinite(v) for v in ebrs):
        raise ConfigError("ebr_db", f"expected one or more finite dB values, got {ebr_db!r}")
    if not (isinstance(val_fraction, (int, float)) and 0.0 < val_fraction < 1.0):
        raise ConfigError("val_fraction", f"must be a fraction in (0, 1), got {val_fraction!r}")
    if not (isinstance(test_fraction, (int, float)) and 0.0 < test_fraction < 1.0):
        raise ConfigError("test_fraction", f"must be a fraction in (0, 1), got {test_fraction!r}")
    if event_span not in EVENT_SPANS:
        raise ConfigError("event_span", f"{event_span!r} is not one of {EVENT_SPANS}")
    if not (isinstance(train_sources, (int, float)) and not isinstance(train_sources, bool)
            and 0.0 < train_sources <= 1.0):
        raise ConfigError("train_sources", f"must be a fraction in (0, 1], got {train_sources!r}")
    if source == "dcase2017" and train_sources != 1.0:
        raise ConfigError("train_sources", "the dcase2017 source mixes nothing; subsetting its sources is not "
                                           "supported (use synth or esc50)")
    if source == "dcase2017" and dcase_root is None:
        raise ConfigError("dcase_root", "the dcase2017 source needs the TUT Rare Sound Events 2017 development "
                                        "set folder (dcase_root)")
    settings = {"format": FORMAT_VERSION, "source": source, "per_class": int(per_class),
                "clip_seconds": float(clip_seconds), "presence": float(presence), "ebr_db": ebrs,
                "val_fraction": float(val_fraction), "test_fraction": float(test_fraction), "seed": int(seed),
                "event_span": event_span, "sample_rate": SAMPLE_RATE,
                "data_root": os.path.abspath(data_root) if source == "esc50" else None,
                "dcase_root": os.path.abspath(dcase_root) if source == "dcase2017" else None}
    if train_sources != 1.0:  # absent = all: builds made before the option keep their fingerprint (cache)
        settings["train_sources"] = float(train_sources)
    return settings


def train_subset(events: list[ClipRecord], fraction: float, seed: int) -> list[ClipRecord]:
    """`events` with only ceil(fraction x n) (>= 1) of each class's n train recordings left; other
    splits untouched. The recordings kept are a prefix of one seeded shuffle per class, so a smaller
    fraction keeps a subset of a larger one's (nested: a learning curve adds sources, never swaps them)."""
    if fraction >= 1.0:
        return list(events)
    keep: set[str] = set()
    for cls in sorted({r.labels[0] for r in events}):
        ids = sorted({r.source_id for r in events if r.split == "train" and r.labels[0] == cls})
        order = [ids[i] for i in np.random.default_rng(stable_seed(seed, "protocol-train-subset", cls)).permutation(len(ids))]
        keep.update(order[:max(1, math.ceil(fraction * len(ids)))])
    return [r for r in events if r.split != "train" or r.source_id in keep]


def fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _cached(out: Path, settings: dict) -> ProtocolData | None:
    path = out / PROTOCOL_FILE
    if not path.is_file():
        return None
    try:
        doc = read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable protocol file ({exc}); delete {out} or use another out dir") from None
    if doc.get("fingerprint") != fingerprint(settings):
        theirs = doc.get("settings", {})
        diff = [k for k in sorted(set(theirs) | set(settings)) if theirs.get(k) != settings.get(k)]
        raise ConfigError("out_dir", f"{out} holds a protocol built with other settings ({', '.join(diff) or '?'} "
                                     f"differ); use another out dir, or delete it to rebuild")
    manifest = out / doc["manifest"]
    missing = [p for p in (manifest,) if not p.is_file()]
    if missing:
        raise DataError(f"{missing[0]}: missing from the protocol in {out}; delete {out} to rebuild")
    return _from_doc(out, doc)


def _claim(out: Path, settings: dict) -> None:
    """Refuse a directory that holds something else; mark the build as in progress."""
    partial = out / PARTIAL_FILE
    if partial.is_file():
        try:
            theirs = read_json(partial).get("fingerprint")
        except (OSError, ValueError):
            theirs = None
        if theirs != fingerprint(settings):
            raise ConfigError("out_dir", f"{out} holds an unfinished protocol build with other settings; "
                                         "use another out dir, or delete it to rebuild")
    elif any(p.name != ".lock" for p in out.iterdir()):
        raise ConfigError("out_dir", f"{out} is not empty and holds no protocol build; use a new or empty out dir")
    write_json(partial, {"fingerprint": fingerprint(settings), "settings": settings})


def _from_doc(out: Path, doc: dict) -> ProtocolData:
    sets = {s: {c: [os.path.normpath(out / p) for p in paths] for c, paths in by_class.items()}
            for s, by_class in doc["sets"].items()}
    source_manifest = out / doc["source_manifest"] if doc.get("source_manifest") else None
    return ProtocolData(out / doc["manifest"], list(doc["classes"]), sets, doc["sources"], doc["settings"],
                        source_manifest, [tuple(x) for x in doc.get("skipped", [])], list(doc.get("notes", [])))


def _finish(out: Path, settings: dict, classes: list[str], records: list[ClipRecord], set_of: dict[str, str],
            sources: dict, skipped: list, notes: list[str], source_manifest: Path | None,
            recipes: list[list[str]] | None) -> ProtocolData:
    """Write manifest.csv, mixtures.csv, report.csv and, last, protocol.json."""
    manifest = out / "manifest.csv"
    write_manifest(records, manifest)
    if recipes is not None:
        write_csv(out / "mixtures.csv", ["path", "class", "split", "event", "event_span", "backgrounds", "onset",
                                         "offset", "ebr_db"], recipes)
    write_csv(out / "report.csv", ["path", "reason"], skipped)
    sets: dict[str, dict[str, list[str]]] = {s: {c: [] for c in classes} for s in SPLITS}
    for rec in records:
        sets[rec.split][set_of[rec.path]].append(Path(rec.path).relative_to(out).as_posix())
    doc = {"fingerprint": fingerprint(settings), "settings": settings, "classes": classes,
           "manifest": manifest.name, "source_manifest": (source_manifest.relative_to(out).as_posix()
                                                           if source_manifest else None),
           "sets": sets, "sources": sources, "skipped": [list(x) for x in skipped], "notes": notes}
    write_json(out / PROTOCOL_FILE, doc)
    return _from_doc(out, doc)


# ---------------------------------------------------------------------------------------------
# Split shares and set sizes


def split_fractions(settings: dict) -> tuple[float, float, float]:
    """(train, val, test) shares of the source recordings."""
    test, val = settings["test_fraction"], settings["val_fraction"]
    return ((1.0 - test) * (1.0 - val), (1.0 - test) * val, test)


def set_sizes(settings: dict) -> dict[str, tuple[int, int]]:
    """split -> (event mixtures, background-only mixtures) of one class's set there."""
    n, p = settings["per_class"], settings["presence"]
    n_val = int(round(n * settings["val_fraction"]))
    sizes = {"train": n - n_val, "val": n_val, "test": n}
    return {s: (int(round(k * p)), k - int(round(k * p))) for s, k in sizes.items()}


# ---------------------------------------------------------------------------------------------
# synth: isolated events and background recordings rendered into out/sources


def synth_counts(per_class: int) -> dict[str, int]:
    """Source families (recordings) per event class and of backgrounds for a set size: 40 at the
    default 500, down to 6 for tiny sets (>= 3 per split after the split)."""
    k = max(SYNTH_MIN_FAMILIES, min(SYNTH_FAMILIES, math.ceil(per_class / MIXTURES_PER_FAMILY)))
    return {"event_families": k, "event_renders_per_family": EVENT_RENDERS, "background_families": k,
            "background_files_per_family": BACKGROUND_FILES}


def _render_source(job: dict) -> float:
    from raresound.data.synthetic import EVENT_SYNTHS, _background

    rng = np.random.default_rng(job["seed"])
    sr = job["sr"]
    if job["cls"] == BACKGROUND:
        wave = _background(job["family"], job["n"], sr, rng)
    else:
        wave = EVENT_SYNTHS[job["cls"]](job["family"], sr, rng)
        wave = wave / (np.abs(wave).max() + 1e-12) * 0.5  # isolated events at a common peak level
    wave = np.asarray(wave, dtype=np.float32)
    peak = float(np.max(np.abs(wave)))
    if peak > 0.99:
        wave = wave * np.float32(0.99 / peak)
    write_clip(job["path"], wave, sr)
    return wave.size / sr


def _synth_sources(out: Path, settings: dict, workers: int):
    from raresound.data.synthetic import _family

    seed, sr = settings["seed"], settings["sample_rate"]
    counts = synth_counts(settings["per_class"])
    fractions = split_fractions(settings)
    jobs, records = [], []
    for cls in [*SYNTH_CLASSES, BACKGROUND]:
        k = counts["background_families" if cls == BACKGROUND else "event_families"]
        ids = [f"synth-{cls}-{j:03d}" for j in range(k)]
        split_of = split_by_source(ids, fractions, stable_seed(seed, "protocol-split", cls))
        renders = counts["background_files_per_family" if cls == BACKGROUND else "event_renders_per_family"]
        for j, source in enumerate(ids):
            family = _family(cls, np.random.default_rng(stable_seed(seed, "protocol-family", cls, str(j))))
            for r in range(renders):
                kind = "backgrounds" if cls == BACKGROUND else "events"
                path = out / "sources" / kind / cls / f"{source}_{r}.wav"
                jobs.append({"cls": cls, "family": family, "sr": sr, "path": str(path),
                             "seed": stable_seed(seed, "protocol-render", cls, str(j), str(r)),
                             "n": int(round(BACKGROUND_FILE_CLIPS * settings["clip_seconds"] * sr))})
                records.append(ClipRecord(str(path), () if cls == BACKGROUND else (cls,), split_of[source], source))
    if workers > 1 and len(jobs) >= 16:
        with ProcessPoolExecutor(workers) as pool:
            durations = list(pool.map(_render_source, jobs, chunksize=max(1, len(jobs) // (8 * workers))))
    else:
        durations = [_render_source(job) for job in jobs]
    records = [replace(r, duration=d, onset=0.0 if r.labels else None, offset=d if r.labels else None)
               for r, d in zip(records, durations)]
    write_manifest(records, out / "sources" / "manifest.csv")
    events = [r for r in records if r.labels]
    return events, [r for r in records if not r.labels], [], list(SYNTH_CLASSES)


# ---------------------------------------------------------------------------------------------
# esc50: ESC-50 + UrbanSound8K events over ESC-50 backgrounds


def esc50_records(data_root: str | Path) -> tuple[list[ClipRecord], list[tuple[str, str]]]:
    """The esc50 source's clips (`paper_classes.paper_class_records`), splits not yet assigned."""
    return paper_class_records(data_root)


def _esc50_sources(settings: dict):
    records, skipped = esc50_records(settings["data_root"])
    # A source's class is its first clip's (in path order); each class's sources are split apart.
    class_of: dict[str, str] = {}
    for rec in sorted(records, key=lambda r: r.path):
        class_of.setdefault(rec.source_id, rec.labels[0] if rec.labels else BACKGROUND)
    split_of: dict[str, str] = {}
    for cls in sorted(set(class_of.values())):
        ids = sorted(s for s, c in class_of.items() if c == cls)
        split_of.update(split_by_source(ids, split_fractions(settings), stable_seed(settings["seed"], "protocol-split", cls)))
    records = [replace(r, split=split_of[r.source_id]) for r in records]
    return ([r for r in records if r.labels], [r for r in records if not r.labels], skipped, list(ESC50_CLASSES))


# ---------------------------------------------------------------------------------------------
# Mixing the sets


def _mix_protocol(out: Path, settings: dict, classes: list[str], events: list[ClipRecord],
                  backgrounds: list[ClipRecord], skipped: list, workers: int) -> ProtocolData:
    source_manifest = out / "sources" / "manifest.csv"
    write_manifest([*events, *backgrounds], source_manifest)  # the recordings actually mixed (train_sources)
    source_of = {r.path: r.source_id for r in [*events, *backgrounds]}
    sizes = set_sizes(settings)
    records, recipes, set_of = [], [], {}
    used: dict[str, dict[str, set[str]]] = {s: defaultdict(set) for s in SPLITS}
    skipped = list(skipped)
    for split in SPLITS:
        bgs = [r for r in backgrounds if r.split == split]
        for cls in classes:
            n_event, n_bg = sizes[split]
            if n_event + n_bg == 0:
                continue
            evs = [r for r in events if r.split == split and r.labels[0] == cls]
            if not bgs:
                raise DataError(f"no background recordings in split '{split}' for the {cls} set; "
                                "add background sources")
            if n_event and not evs:
                raise DataError(f"no {cls} event recordings in split '{split}'; the {settings['source']} source "
                                f"has too few {cls} recordings for train/val/test")
            name = (lambda s, c, i, cls=cls, split=split:
                    f"audio/{split}/{cls}/mixture_{split}_{cls}_{i:04d}.wav")
            result = mix_dataset(evs, bgs, out, {cls: n_event, BACKGROUND: n_bg}, ebr_db=settings["ebr_db"],
                                 clip_seconds=settings["clip_seconds"], sample_rate=settings["sample_rate"],
                                 seed=stable_seed(settings["seed"], "protocol-mix", split, cls), workers=workers,
                                 event_span=settings["event_span"], long_events="skip", clip_name=name)
            skipped += [s for s in result.skipped if s not in skipped]
            got = result.counts.get(split, {})
            if got.get(cls, 0) != n_event or got.get(BACKGROUND, 0) != n_bg:
                why = f"; first problem: {result.skipped[0][0]}: {result.skipped[0][1]}" if result.skipped else ""
                raise DataError(f"the {split} {cls} set got {got.get(cls, 0)} event and {got.get(BACKGROUND, 0)} "
                                f"background mixtures of {n_event} + {n_bg} asked{why}")
            part = read_manifest(result.manifest)
            rows = _read_recipes(out / "mixtures.csv")
            for rec in part:
                set_of[rec.path] = cls
            for row in rows:
                if row[3]:
                    used[split][cls].add(source_of[row[3]])
                for piece in filter(None, row[5].split(";")):
                    used[split][BACKGROUND].add(source_of[piece.rsplit("@", 1)[0]])
            records += part
            recipes += rows
    sources = {s: {c: len(used[s][c]) for c in [*classes, BACKGROUND]} for s in SPLITS}
    _check_source_disjoint(used)
    notes = []
    if settings["source"] == "esc50":
        notes.append("real events: ESC-50 + UrbanSound8K (CC BY-NC 3.0) over ESC-50 backgrounds; "
                     "sources are Freesound recordings")
    if settings.get("train_sources", 1.0) < 1.0:
        notes.append(f"train_sources {settings['train_sources']:g}: train mixes only that share of each class's "
                     "train event recordings (val and test unchanged)")
    return _finish(out, settings, classes, records, set_of, sources, skipped, notes, source_manifest, recipes)


def _read_recipes(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


def _check_source_disjoint(used: dict[str, dict[str, set[str]]]) -> None:
    owner: dict[str, str] = {}
    for split, by_class in used.items():
        for ids in by_class.values():
            for s in ids:
                if owner.setdefault(s, split) != split:
                    raise DataError(f"source recording {s!r} is in both '{owner[s]}' and '{split}' (a bug: "
                                    "the protocol splits by source)")


# ---------------------------------------------------------------------------------------------
# dcase2017: the official development mixtures


def _recipe_sources(root: Path) -> dict[str, tuple[str | None, str]]:
    """mixture file name -> (event source or None, background source) from the mixture recipes
    (`mixture_recipes_<set>_<class>.yaml`): the event's Freesound id (events/<class>/<id>.wav) and
    the background's recording (TUT Acoustic Scenes `a001_0_30.wav` -> `a001`)."""
    import yaml

    out: dict[str, tuple[str | None, str]] = {}
    for path in sorted(root.rglob("mixture_recipes_*.yaml")):
        try:
            recipes = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DataError(f"{path}: unreadable mixture recipes ({' '.join(str(exc).split())[:200]})") from None
        if not isinstance(recipes, list):
            raise DataError(f"{path}: expected a list of mixture recipes")
        for i, r in enumerate(recipes):
            if not isinstance(r, dict) or "mixture_audio_filename" not in r or "bg_path" not in r:
                raise DataError(f"{path}: recipe {i} lacks mixture_audio_filename or bg_path")
            event = (f"dcase2017-event-{Path(str(r['event_path'])).stem}"
                     if r.get("event_present") and r.get("event_path") else None)
            out[str(r["mixture_audio_filename"])] = (event, f"dcase2017-bg-{Path(str(r['bg_path'])).stem.split('_')[0]}")
    return out


def _build_dcase2017(out: Path, settings: dict) -> ProtocolData:
    from raresound.data.sources.dcase2017 import DEFAULT_LABEL_MAP, import_dcase2017

    root = Path(settings["dcase_root"])
    if not root.is_dir():
        raise DataError(f"{root}: not a directory (dcase_root: the TUT Rare Sound Events 2017 development set)")
    result = import_dcase2017(root)
    recipes = _recipe_sources(root)
    by_set: dict[tuple[str, str], list[ClipRecord]] = defaultdict(list)
    for rec in result.records:
        match = _MIXTURE_NAME.match(Path(rec.path).name)
        if match is None or rec.split not in ("train", "test"):
            raise DataError(f"{rec.path}: not a DCASE 2017 mixture name (mixture_<set>_<class>_<index>_...)")
        cls = DEFAULT_LABEL_MAP.get(match.group(2), match.group(2))
        if rec.labels and rec.labels != (cls,):
            raise DataError(f"{rec.path}: labelled {rec.labels[0]!r} in the {cls} set")
        by_set[(rec.split, cls)].append(rec)
    index = lambda r: int(_MIXTURE_NAME.match(Path(r.path).name).group(3))  # noqa: E731
    by_set = {key: sorted(recs, key=index)[: settings["per_class"]] for key, recs in by_set.items()}
    classes = sorted({cls for _, cls in by_set})
    notes, records, set_of = [], [], {}
    have_recipes = all(Path(r.path).name in recipes for recs in by_set.values() for r in recs)
    if not have_recipes:
        notes.append("no mixture recipes (mixture_recipes_*.yaml) for every mixture: val is split from devtrain "
                     "by mixture, and the official mixtures reuse isolated events, so val is not source-disjoint "
                     "from train")
    val_sources = _dcase_val_sources(by_set, recipes, settings, have_recipes)
    dropped = 0
    for (split, cls), recs in sorted(by_set.items()):
        for rec in recs:
            ev, bg = recipes.get(Path(rec.path).name, (None, None)) if have_recipes else (None, rec.source_id)
            split_to = split
            if split == "train":
                in_val = {s in val_sources for s in (ev, bg) if s is not None}
                if len(in_val) > 1:  # its event and its background recordings fell on both sides
                    dropped += 1
                    continue
                split_to = "val" if in_val == {True} else "train"
            records.append(replace(rec, split=split_to, source_id=ev or bg))
            set_of[rec.path] = cls
    if dropped:
        notes.append(f"{dropped} devtrain mixture(s) dropped: their event recording is in val and their background "
                     "recording in train, or the other way round (the official mixtures reuse both)")
    sources: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        recs = [r for r in records if r.split == split]
        counts = {c: len({recipes.get(Path(r.path).name, (r.source_id, None))[0] or r.source_id
                          for r in recs if r.labels and r.labels[0] == c}) for c in classes}
        counts[BACKGROUND] = len({recipes[Path(r.path).name][1] for r in recs}) if have_recipes else 0
        sources[split] = counts
    return _finish_external(out, settings, classes, records, set_of, sources, result.skipped, notes)


def _dcase_val_sources(by_set, recipes, settings, have_recipes) -> set[str]:
    """The devtrain source ids that go to val: a val_fraction of each class's event recordings and
    of the background recordings (with recipes), or of each class's mixtures (without)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for (split, cls), recs in by_set.items():
        if split != "train":
            continue
        for rec in recs:
            if not have_recipes:
                groups[cls].add(rec.source_id)
                continue
            ev, bg = recipes[Path(rec.path).name]
            groups[BACKGROUND].add(bg)
            if ev is not None:
                groups[cls].add(ev)
    val: set[str] = set()
    fractions = (1.0 - settings["val_fraction"], settings["val_fraction"], 0.0)
    for name, ids in sorted(groups.items()):
        split_of = split_by_source(sorted(ids), fractions, stable_seed(settings["seed"], "protocol-val", name))
        val |= {s for s, sp in split_of.items() if sp == "val"}
    return val


def _finish_external(out, settings, classes, records, set_of, sources, skipped, notes) -> ProtocolData:
    """_finish for mixtures that live outside out_dir (dcase2017): set paths stay absolute."""
    manifest = out / "manifest.csv"
    write_manifest(records, manifest)
    write_csv(out / "report.csv", ["path", "reason"], skipped)
    sets: dict[str, dict[str, list[str]]] = {s: {c: [] for c in classes} for s in SPLITS}
    for rec in records:
        sets[rec.split][set_of[rec.path]].append(os.path.relpath(rec.path, out))
    doc = {"fingerprint": fingerprint(settings), "settings": settings, "classes": classes,
           "manifest": manifest.name, "source_manifest": None, "sets": sets, "sources": sources,
           "skipped": [list(x) for x in skipped], "notes": notes}
    write_json(out / PROTOCOL_FILE, doc)
    return _from_doc(out, doc)


__all__ = ["PROTOCOL_SOURCES", "ProtocolData", "build_protocol", "esc50_records", "fingerprint", "freesound_source",
           "set_sizes", "split_fractions", "synth_counts"]
