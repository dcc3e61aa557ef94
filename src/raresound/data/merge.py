"""One data set from several imported manifests (`raresound data merge`).

`merge_manifests(paths, ...)` reads manifests written by `data import` (ESC-50 from one or more
roots, UrbanSound8K, ...), unifies their labels, takes the union of their clips and splits the
result again by source recording, stratified by class, so that no recording is in two splits:

* Labels: `UNIFIED_LABELS` (dog_bark -> dog, gun_shot -> gunshot, crying_baby -> baby), then the
  caller's `label_map` on the unified names, so a manifest imported with the data set's own class names meets one
  imported with the importers' default maps (which already give dog, baby, gunshot). `exclude`
  drops clips carrying a label (e.g. ESC-50's glass, neither a target nor a background here).
* Backgrounds are whatever the inputs left unlabelled (ESC-50's other classes when imported with
  `--other background`).
* Sources: importers already prefix ids with their data set (`esc50-<src_file>`,
  `us8k-<fsID>`, `audioset-`, `dcase2017-`), so ids of different data sets do not collide, and two
  ESC-50 roots give one recording the same id. ESC-50's src_file and UrbanSound8K's fsID are
  both Freesound ids, and some Freesound recordings were cut by both data sets (5 dog recordings
  in ../shared/data), so both become `freesound-<id>` (`freesound_source`): one recording, one id,
  one split, also for later tools that group by source_id (`data mix --resplit`, leakage checks).
* A clip listed by several inputs (same path and onset/offset) is kept once when they agree, and
  is a DataError naming both files when their labels or recordings differ.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from raresound.data.manifest import ClipRecord, read_manifest
from raresound.data.ratio import DEFAULT_FRACTIONS, assign_splits
from raresound.errors import DataError

UNIFIED_LABELS = {"dog_bark": "dog", "gun_shot": "gunshot", "crying_baby": "baby"}
FREESOUND_PREFIXES = ("esc50-", "us8k-")


def freesound_source(source_id: str) -> str:
    """`esc50-<src_file>` / `us8k-<fsID>` -> `freesound-<id>`: both are Freesound ids."""
    for prefix in FREESOUND_PREFIXES:
        if source_id.startswith(prefix):
            return "freesound-" + source_id[len(prefix):]
    return source_id


@dataclass(frozen=True)
class ListedClip:
    """A clip and the manifest that listed it (for error messages)."""
    record: ClipRecord
    manifest: Path


def read_inputs(paths: Iterable[str | Path]) -> list[ListedClip]:
    """Every clip of every manifest; a missing or empty manifest is a DataError naming it."""
    clips: list[ListedClip] = []
    for path in map(Path, paths):
        records = read_manifest(path)
        if not records:
            # An empty input is almost always a failed import; merging without it would hide that.
            raise DataError(f"{path}: empty manifest (no clips); nothing of it to merge")
        clips += [ListedClip(rec, path) for rec in records]
    if not clips:
        raise DataError("no manifests to merge")
    return clips


def unify_labels(labels: Sequence[str], label_map: Mapping[str, str]) -> tuple[str, ...]:
    """Labels renamed through `label_map`, each once, in their order."""
    return tuple(dict.fromkeys(label_map.get(label, label) for label in labels))


def label_renames(label_map: Mapping[str, str]) -> dict[str, str]:
    """Input label -> merged label: `UNIFIED_LABELS` first, then `label_map` on the unified names
    (baby=infant renames crying_baby too, so the caller need not know each data set's names); a
    name the caller maps itself (dog_bark=bark) is the caller's."""
    renames = {name: label_map.get(unified, unified) for name, unified in UNIFIED_LABELS.items()}
    return {**renames, **label_map}


def unify(clip: ListedClip, label_map: Mapping[str, str]) -> ListedClip:
    rec = clip.record
    return replace(clip, record=replace(rec, labels=unify_labels(rec.labels, label_map),
                                        source_id=freesound_source(rec.source_id)))


def union_of_clips(clips: Iterable[ListedClip]) -> list[ClipRecord]:
    """One record per clip (path, onset, offset), in input order. Inputs that list one clip must
    agree on its labels and its recording, or the merged data set would contradict one of them."""
    first: dict[tuple, ListedClip] = {}
    for clip in clips:
        rec = clip.record
        key = (rec.path, rec.onset, rec.offset)
        seen = first.setdefault(key, clip)
        if seen is clip:
            continue
        for what, ours, theirs in (("labelled", seen.record.labels, rec.labels),
                                   ("from recording", seen.record.source_id, rec.source_id)):
            if ours != theirs:
                raise DataError(f"{rec.path}: {what} {_show(ours)} in {seen.manifest} but {_show(theirs)} in "
                                f"{clip.manifest}; fix one manifest or unify the labels with --label-map")
    return [clip.record for clip in first.values()]


def _show(value) -> str:
    if isinstance(value, tuple):
        return repr(";".join(value)) if value else "background"
    return repr(value)


def merge_manifests(paths: Sequence[str | Path], label_map: Mapping[str, str] | None = None,
                    exclude: Iterable[str] = (), fractions: Sequence[float] = DEFAULT_FRACTIONS,
                    seed: int = 0) -> list[ClipRecord]:
    """The merged, re-split clips of the manifests at `paths` (module doc). The inputs' own splits
    are ignored: they were drawn per data set, so one recording in two data sets (or two ESC-50
    roots) could sit in two splits."""
    labels_of = label_renames(label_map or {})
    excluded = set(exclude)
    clips = [unify(clip, labels_of) for clip in read_inputs(paths)]
    records = [rec for rec in union_of_clips(clips) if not excluded & set(rec.labels)]
    if not records:
        raise DataError(f"no clips left to merge after excluding {', '.join(sorted(excluded))}")
    return assign_splits(records, fractions, seed)


def recordings_in_several_splits(records: Iterable[ClipRecord]) -> dict[str, set[str]]:
    """source_id -> its splits, for the recordings found in more than one split (none, after a merge)."""
    splits: dict[str, set[str]] = {}
    for rec in records:
        splits.setdefault(rec.source_id, set()).add(rec.split)
    return {source: s for source, s in splits.items() if len(s) > 1}


__all__ = ["FREESOUND_PREFIXES", "UNIFIED_LABELS", "freesound_source", "merge_manifests",
           "recordings_in_several_splits", "union_of_clips", "unify_labels"]
