"""Frame-level score files in the format sed_scores_eval reads (`read_sed_scores`): one
tab-separated file per audio file, named `<audio id>.tsv`, with the header `onset offset
<class 1> <class 2> ...` and one row per frame: its start and end time in seconds and a score per
class. Frames tile the file: each frame starts where the previous one ended.

The audio id is the file name without directory and last extension ("clips/a.wav" -> "a"), which
is how sed_scores_eval links a reference event's filename to its score file.

Everything read here is checked so that a wrong input ends in one line naming the file: a header
without onset/offset/classes, class columns that differ between files, a row with the wrong
number of fields or a non-number, frames that do not tile time in increasing order, and
non-finite scores.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from raresound.errors import DataError
from raresound.evaluation.events import MAX_EVENT_SECONDS
from raresound.io import read_text_input, write_text

SUFFIX = ".tsv"


def audio_id(filename: str) -> str:
    name = Path(filename).name
    return name.rsplit(".", 1)[0] if "." in name else name


def checked_scores(where: str, timestamps, scores, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, scores) as float arrays, after checking they are frame-level scores of
    `n_classes` classes: shapes (S+1,) and (S, L), increasing finite times, finite scores."""
    timestamps = np.asarray(timestamps, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != n_classes or timestamps.shape != (len(scores) + 1,):
        raise DataError(f"{where}: scores of shape {scores.shape} and timestamps of shape "
                        f"{timestamps.shape} do not fit {n_classes} classes (need (S, L) and (S+1,))")
    _check_frames(where, timestamps, scores)
    return timestamps, scores


def _check_frames(where: str, timestamps: np.ndarray, scores: np.ndarray) -> None:
    if len(scores) == 0:
        raise DataError(f"{where}: no frames")
    if not np.isfinite(timestamps).all():
        raise DataError(f"{where}: frame times must be finite numbers")
    if not (np.diff(timestamps) > 0).all():
        bad = int(np.flatnonzero(np.diff(timestamps) <= 0)[0])
        raise DataError(f"{where}: frame times are not increasing (frame {bad + 1} ends at "
                        f"{timestamps[bad + 1]} s, not after its start {timestamps[bad]} s)")
    if not np.isfinite(scores).all():
        frame, column = np.argwhere(~np.isfinite(scores))[0]
        raise DataError(f"{where}: non-finite score {scores[frame, column]} in frame {frame + 1}")


def write_score_files(directory: str | Path, scores_by_file: Mapping[str, tuple[np.ndarray, np.ndarray]],
                      classes: Sequence[str]) -> Path:
    """Write `{filename: (timestamps (S+1,), scores (S, L))}` as one score file per audio file into
    `directory` (each written atomically; other files there are left alone). Times and scores are
    written with `repr`, so reading them back gives the same floats."""
    classes = [str(c) for c in classes]
    if not classes:
        raise DataError(f"{directory}: score files need at least one class")
    for c in classes:
        if not c or any(ch in c for ch in "\t\n\r\\") or c in ("onset", "offset"):
            raise DataError(f"{directory}: class name {c!r} cannot be a score-file column")
    directory = Path(directory)
    ids: dict[str, str] = {}
    for filename in scores_by_file:
        aid = audio_id(filename)
        if aid in ids:
            raise DataError(f"{directory}: {ids[aid]!r} and {filename!r} would share the score file {aid}{SUFFIX}")
        ids[aid] = filename
    directory.mkdir(parents=True, exist_ok=True)
    header = "\t".join(["onset", "offset", *classes])
    for aid, filename in ids.items():
        timestamps, scores = checked_scores(filename, *scores_by_file[filename], len(classes))
        rows = ["\t".join(map(repr, [float(timestamps[i]), float(timestamps[i + 1]), *map(float, scores[i])]))
                for i in range(len(scores))]
        write_text(directory / f"{aid}{SUFFIX}", header + "\n" + "\n".join(rows) + "\n")
    return directory


def read_score_file(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(classes, timestamps (S+1,), scores (S, L)) of one score file."""
    path = Path(path)
    text = read_text_input(path, "score file")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path}: empty, not a score file")
    header = [f.strip() for f in lines[0].split("\t")]
    if len(header) < 3 or header[:2] != ["onset", "offset"]:
        raise DataError(f"{path}: not a score file (its first line must be onset, offset and one column "
                        f"per class, tab-separated; got {lines[0][:80]!r})")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}:{lineno}: expected {len(header)} fields like the header, got {len(fields)}")
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            raise DataError(f"{path}:{lineno}: fields must be numbers") from None
    values = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    onsets, offsets = values[:, 0], values[:, 1]
    if len(values) and not (offsets[:-1] == onsets[1:]).all():
        frame = int(np.flatnonzero(offsets[:-1] != onsets[1:])[0])
        raise DataError(f"{path}: frame {frame + 2} starts at {onsets[frame + 1]} s, not where frame "
                        f"{frame + 1} ends ({offsets[frame]} s)")
    timestamps = np.concatenate([onsets, offsets[-1:]])
    _check_frames(str(path), timestamps, values[:, 2:])
    return header[2:], timestamps, values[:, 2:]


def read_score_files(directory: str | Path) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(classes, {audio id: (timestamps, scores)}) of a directory of score files. Hidden files are
    skipped; any other file that is not `*.tsv` is an error (sed_scores_eval refuses it too)."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "an existing file" if directory.exists() else "missing"
        raise DataError(f"{directory}: not a directory of score files ({what})")
    paths = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    if not paths:
        raise DataError(f"{directory}: no score files (expected one <audio id>.tsv per audio file)")
    classes: list[str] | None = None
    scores = {}
    for path in paths:
        if path.suffix != SUFFIX or not path.is_file():
            raise DataError(f"{path}: not a score file (a score directory holds only <audio id>{SUFFIX} files)")
        file_classes, timestamps, values = read_score_file(path)
        if classes is None:
            classes, first = file_classes, path
        elif file_classes != classes:
            raise DataError(f"{path}: class columns {file_classes} differ from {classes} in {first.name}")
        scores[path.name[:-len(SUFFIX)]] = (timestamps, values)
    return classes, scores


def read_durations(path: str | Path) -> dict[str, float]:
    """{filename: seconds} from a tab-separated `filename duration` file (a header line is skipped)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read durations ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text, so not a durations file") from None
    durations: dict[str, float] = {}
    for lineno, line in enumerate(lines, start=1):
        fields = [f.strip() for f in line.split("\t")]
        if not line.strip() or fields[0].lower() == "filename":
            continue
        try:
            seconds = float(fields[1]) if len(fields) == 2 else math.nan
        except ValueError:
            seconds = math.nan
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise DataError(f"{path}:{lineno}: expected filename<TAB>duration in seconds, got {line[:80]!r}")
        if seconds > MAX_EVENT_SECONDS:
            raise DataError(f"{path}:{lineno}: duration {seconds:g} s is beyond any recording "
                            f"(limit {MAX_EVENT_SECONDS:.0e} s)")
        durations[fields[0]] = seconds
    if not durations:
        raise DataError(f"{path}: no durations (expected filename<TAB>duration lines)")
    return durations
