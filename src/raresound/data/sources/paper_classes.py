"""The paper's three classes from real audio: dog, baby and gunshot over real backgrounds.

One data set from three folders under `root` (`../shared/data`):
* `esc50-subset/`: ESC-50 dog and crying_baby clips, and the backgrounds (the other 47 classes);
* `esc50-more/`: more ESC-50 dog and crying_baby clips (its other classes are left out);
* `urbansound8k-subset/`: UrbanSound8K gun_shot and dog_bark clips.

Labels are unified (dog_bark and dog -> dog, crying_baby -> baby, gun_shot -> gunshot);
glass_breaking, an ESC-50 rare class, is neither a target nor a background. Source ids are
Freesound ids (`freesound-<id>`: ESC-50's src_file and UrbanSound8K's fsID are both Freesound ids),
so a recording found in two data sets is one source and lands in one split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from raresound.data.manifest import ClipRecord
from raresound.data.merge import UNIFIED_LABELS, freesound_source
from raresound.data.ratio import DEFAULT_FRACTIONS, assign_splits
from raresound.errors import DataError

ESC50_ROOTS = ("esc50-subset", "esc50-more")
US8K_ROOT = "urbansound8k-subset"
# The data sets' class names -> ours: the unification `data merge` applies (UNIFIED_LABELS), plus
# ESC-50's dog and glass_breaking (glass: kept as a label so its clips can be left out, not made backgrounds).
ESC50_LABELS = {"dog": "dog", "crying_baby": UNIFIED_LABELS["crying_baby"], "glass_breaking": "glass"}
US8K_LABELS = {name: UNIFIED_LABELS[name] for name in ("dog_bark", "gun_shot")}
PAPER_CLASSES = ("baby", "dog", "gunshot")
EXCLUDED_LABELS = ("glass",)


def paper_class_records(root: str | Path) -> tuple[list[ClipRecord], list[tuple[str, str]]]:
    """The clips with unified labels and Freesound source ids (split "train": not yet assigned),
    and the (file, reason) pairs of the clips that could not be used."""
    from raresound.data.sources.esc50 import import_esc50
    from raresound.data.sources.urbansound8k import import_urbansound8k

    root = Path(root)
    for name in (*ESC50_ROOTS, US8K_ROOT):
        if not (root / name).is_dir():
            raise DataError(f"{root / name}: missing; the paper classes need {', '.join(ESC50_ROOTS)} "
                            f"and {US8K_ROOT} under {root}")
    results = [import_esc50(root / ESC50_ROOTS[0], label_map=ESC50_LABELS, other="background"),
               import_esc50(root / ESC50_ROOTS[1], label_map=ESC50_LABELS, other="exclude"),
               import_urbansound8k(root / US8K_ROOT, label_map=US8K_LABELS, other="exclude")]
    records = [replace(r, source_id=freesound_source(r.source_id), split="train")
               for res in results for r in res.records if not set(r.labels) & set(EXCLUDED_LABELS)]
    return records, [s for res in results for s in res.skipped]


def import_paper_classes(root: str | Path, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0):
    """`paper_class_records` with train/val/test assigned by source recording, per class."""
    from raresound.data.sources import ImportResult

    records, skipped = paper_class_records(root)
    return ImportResult(assign_splits(records, fractions, seed), skipped)
