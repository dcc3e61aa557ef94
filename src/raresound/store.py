"""The feature store: a manifest featurised once into memory-mapped float16 arrays.

Layout of a store directory::

    meta.json            feature_config, classes (over the whole manifest), splits {name: {n, n_frames, n_mels}}
    <split>.f16          raw float16, C order, shape [n, n_frames, n_mels]
    <split>.index.csv    manifest rows of the clips in <split>.f16, in array order
    report.csv           path,reason of every clip that was skipped (always written, maybe empty)
    warnings.csv         path,warning of clips that loaded with an AudioWarning (only if any)

Building is parallel and resumable. The manifest is cut into chunks of `chunk_size` clips per
split; worker processes decode and featurise a chunk and write it to ``.partial/<split>-<k>.npy``
atomically; the parent then records the chunk's outcome (kept / skipped / warned clips) in
``.partial/<split>-<k>.json``, the chunk-level progress file. A rerun after a kill skips the
recorded chunks (``.partial/job.json`` holds a fingerprint of the records, their files' size and
mtime, the feature config and chunk size; a different job discards the partial work). When every chunk of a split is done the chunks
are streamed into ``<split>.f16`` through a temp file and renamed into place, so a split file is
either complete or absent. Each chunk's content depends only on its clips, so a resumed build is
byte-identical to an uninterrupted one.

A build over a complete store of another job (another manifest, clip length, ...) is built beside
it, in ``.<name>.rebuild`` in the same parent directory (resumable there the same way), and swapped
in only when complete: until then the old store stays whole and usable, also after a failed or
killed rebuild.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from raresound.audio import AudioWarning, load
from raresound.data.manifest import ClipRecord, class_names, label_matrix, read_manifest, write_manifest
from raresound.errors import AudioError, DataError
from raresound.features import FeatureConfig, LogMel, low_rate_note
from raresound.io import atomic_path, dir_lock, read_json, remove_stale_temps, write_csv, write_json
from raresound.workers import cap_workers, die_with_parent

STORE_VERSION = 1
DTYPE = np.float16
PARTIAL_DIR = ".partial"
# Clips featurised per LogMel call inside a chunk. Bounds a worker's peak memory independently of
# chunk_size (the complex STFT of 8 ten-second clips is ~65 MB); on a 2-core CPU, batches of 1-16
# cost about the same per clip while 32 was ~2x slower (intermediates fall out of cache).
_LOGMEL_BATCH = 8


@dataclass
class StoreReport:
    out_dir: Path
    counts: dict[str, int]  # clips stored per split
    skipped: list[tuple[str, str]]  # (path, reason)
    warned: list[tuple[str, str]]  # (path, warning) for clips stored despite a warning
    report_path: Path
    resumed_chunks: int = 0
    computed_chunks: int = 0
    seconds: float = 0.0

    @property
    def n_stored(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        per_split = ", ".join(f"{name} {n}" for name, n in self.counts.items())
        resumed = f", {self.resumed_chunks} chunks resumed" if self.resumed_chunks else ""
        return (
            f"stored {self.n_stored} clips ({per_split}) in {self.out_dir}; skipped {len(self.skipped)}, "
            f"warned {len(self.warned)}{resumed}; {self.seconds:.1f} s"
        )


@dataclass
class StoreSplit:
    features: np.ndarray  # np.memmap [N, F, M] float16, read-only
    labels: np.ndarray  # [N, L] float32 multi-hot over the store's classes
    records: list[ClipRecord] = field(repr=False)
    name: str = ""

    def __len__(self) -> int:
        return len(self.records)


class FeatureStore:
    """Read side of a store directory. Opening a split maps its file; nothing is read into RAM."""

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)
        meta_path = self.out_dir / "meta.json"
        if not meta_path.is_file():
            raise DataError(f"{self.out_dir}: not a feature store (no meta.json); build it with `raresound features`")
        try:
            meta = read_json(meta_path)
            self.feature_config = FeatureConfig.from_dict(meta["feature_config"])
            self.classes: list[str] = list(meta["classes"])
            self._splits: dict[str, dict] = dict(meta["splits"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{meta_path}: malformed store metadata ({exc})") from None
        self.meta = meta

    @property
    def splits(self) -> list[str]:
        return list(self._splits)

    def split(self, name: str) -> StoreSplit:
        if name not in self._splits:
            raise DataError(f"{self.out_dir}: no split {name!r} in store (has: {', '.join(self.splits) or 'none'})")
        info = self._splits[name]
        shape = (int(info["n"]), int(info["n_frames"]), int(info["n_mels"]))
        data_path = self.out_dir / f"{name}.f16"
        index_path = self.out_dir / f"{name}.index.csv"
        expected = int(np.prod(shape)) * np.dtype(DTYPE).itemsize
        if not data_path.is_file() or data_path.stat().st_size != expected:
            size = data_path.stat().st_size if data_path.is_file() else "missing"
            raise DataError(f"{data_path}: expected {expected} bytes for shape {shape}, found {size}")
        records = read_manifest(index_path)
        if len(records) != shape[0]:
            raise DataError(f"{index_path}: {len(records)} rows but {data_path.name} holds {shape[0]} clips")
        if shape[0] == 0:
            features = np.zeros(shape, dtype=DTYPE)  # mmap cannot map an empty file
        else:
            features = np.memmap(data_path, dtype=DTYPE, mode="r", shape=shape)
        return StoreSplit(features, label_matrix(records, self.classes), records, name)


# --- building ------------------------------------------------------------------------------------

# Per-process state of a featurisation worker, set once by _init_worker.
_WORKER_LOGMEL: LogMel | None = None


def _init_worker(logmel: LogMel) -> None:
    global _WORKER_LOGMEL
    die_with_parent()
    # One torch thread per process: the parallelism is across processes, and oversubscribing the
    # cores with intra-op threads makes every worker slower.
    torch.set_num_threads(1)
    _WORKER_LOGMEL = logmel


def _featurise_chunk(task: dict) -> dict:
    """Decode + featurise one chunk, write its float16 array atomically; return what happened."""
    logmel = _WORKER_LOGMEL
    cfg = logmel.config
    waves, ok, skipped, warned = [], [], [], []
    for position, path in task["clips"]:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                wave = load(path, sr=cfg.sample_rate, duration=cfg.clip_seconds, mel_note=low_rate_note(cfg))
        except AudioError as exc:
            skipped.append((path, exc.reason))
            continue
        except Exception as exc:  # noqa: BLE001 - a batch job must skip and report, never die midway
            skipped.append((path, f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"))
            continue
        # only the audio's own findings: a library imported lazily inside the block (librosa, on the
        # first low-rate clip of a process) may warn too, and would make serial and parallel differ
        warned.extend((path, " ".join(str(w.message).split())) for w in caught if issubclass(w.category, AudioWarning))
        waves.append(wave)
        ok.append(position)
    n_frames = cfg.n_frames(cfg.clip_samples)
    feats = np.empty((len(waves), n_frames, cfg.n_mels), dtype=DTYPE)
    with torch.inference_mode():
        for start in range(0, len(waves), _LOGMEL_BATCH):
            batch = torch.from_numpy(np.stack(waves[start : start + _LOGMEL_BATCH]))
            feats[start : start + batch.shape[0]] = logmel(batch).numpy().astype(DTYPE)
    # audio.load rejects the inputs known to overflow; this is the last guard that no inf/NaN
    # (e.g. beyond float16's range) ever reaches training, which would fail naming no file.
    finite = np.isfinite(feats).all(axis=(1, 2))
    if not finite.all():
        paths = dict(task["clips"])
        skipped.extend((paths[pos], "log-mel features are not finite (inf or NaN)")
                       for pos, good in zip(ok, finite) if not good)
        ok = [pos for pos, good in zip(ok, finite) if good]
        feats = feats[finite]
    with atomic_path(task["out"]) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, feats)
    return {"key": task["key"], "ok": ok, "skipped": skipped, "warned": warned}


def _fingerprint(records: Sequence[ClipRecord], cfg: FeatureConfig, chunk_size: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"version": STORE_VERSION, "config": cfg.to_dict(), "chunk": chunk_size}, sort_keys=True).encode())
    for rec in records:
        h.update(json.dumps([rec.path, rec.labels, rec.split, rec.source_id, rec.duration, rec.onset, rec.offset]).encode())
        # A clip replaced on disk between runs must not resume from stale features.
        try:
            st = os.stat(rec.path)
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()


def build_store(
    manifest_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    feature_config: FeatureConfig = FeatureConfig(),
    workers: int = 2,
    chunk_size: int = 64,
    progress: bool = True,
) -> StoreReport:
    """Featurise every clip of the manifest into a store at `out_dir` (see module docstring).

    `workers` processes featurise chunks in parallel; ``workers=1`` runs in this process (with one
    torch thread, so results are bit-identical to the parallel path). Unusable clips are skipped
    and listed in report.csv. Rerunning after an interruption resumes from the finished chunks.
    """
    started = time.perf_counter()
    if int(workers) < 1:
        raise DataError(f"workers must be >= 1, got {workers}")
    if int(chunk_size) < 1:
        raise DataError(f"chunk_size must be >= 1, got {chunk_size}")
    workers, chunk_size = cap_workers(int(workers), "workers"), int(chunk_size)
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    records = read_manifest(manifest_path)
    if not records:
        raise DataError(f"{manifest_path}: manifest has no clips")
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a directory")
    cfg = feature_config
    classes = class_names(records)
    splits = {name: [r for r in records if r.split == name] for name in dict.fromkeys(r.split for r in records)}

    job = _fingerprint(records, cfg, chunk_size)
    existing = _finished_store_report(out_dir, job, started)
    if existing is not None:
        return existing
    build = (manifest_path, records, splits, classes, cfg, job, workers, chunk_size, progress, started)
    # One builder per directory: a second `features` would delete or assemble the first one's chunks.
    with dir_lock(out_dir, "features"):
        remove_stale_temps(out_dir)  # a killed build's half-written split or chunk files
        if (out_dir / "meta.json").is_file():  # a complete store of another job
            return _rebuild_beside(out_dir, *build)
        return _build_locked(out_dir, *build)  # new, or an interrupted build: resumes in place


def staging_dir(out_dir: Path) -> Path:
    """Where a rebuild over a complete store is built: beside it (same file system, so the swap is a
    rename), under a fixed name, so that an interrupted rebuild resumes there."""
    return out_dir.parent / f".{out_dir.name}.rebuild"


def _rebuild_beside(out_dir: Path, manifest_path: Path, records, splits: dict, classes: list, cfg: FeatureConfig,
                    job: str, workers: int, chunk_size: int, progress: bool, started: float) -> StoreReport:
    """Rebuild over the complete store at `out_dir` (another manifest or settings) without touching
    it until the new store is complete: runs trained on it keep working while the rebuild runs, and
    after a failed or killed rebuild (disk full, kill -9). Called holding `out_dir`'s lock, which
    every builder of `out_dir` takes, so the staging directory has one writer too."""
    staging = staging_dir(out_dir)
    report = _finished_store_report(staging, job, started)  # built, but killed before the swap
    if report is None:
        if _partial_job(staging) != job:  # another rebuild's leftovers (their split files too): start clean
            shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(exist_ok=True)
        remove_stale_temps(staging)
        report = _build_locked(staging, manifest_path, records, splits, classes, cfg, job, workers, chunk_size,
                               progress, started)
    _swap_in(staging, out_dir)
    return dataclasses.replace(report, out_dir=out_dir, report_path=out_dir / report.report_path.name)


def _partial_job(directory: Path) -> str | None:
    """The job whose partial work `directory` holds (its .partial/job.json), if any."""
    try:
        return read_json(directory / PARTIAL_DIR / "job.json").get("job")
    except (OSError, ValueError, AttributeError):
        return None


def _swap_in(new: Path, out_dir: Path) -> None:
    """Put the directory `new` in place of `out_dir` and delete the old one. Atomic where the kernel
    can exchange two paths (Linux renameat2); elsewhere two renames, between which `out_dir` is
    briefly absent (the old store then waits at `.<name>.old`)."""
    if _exchange(new, out_dir):
        shutil.rmtree(new, ignore_errors=True)  # now the old store
        return
    old = out_dir.parent / f".{out_dir.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    os.rename(out_dir, old)
    os.rename(new, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where that is unavailable
    (not Linux, an old C library, a file system without it)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _build_locked(out_dir: Path, manifest_path: Path, records, splits: dict, classes: list, cfg: FeatureConfig,
                  job: str, workers: int, chunk_size: int, progress: bool, started: float) -> StoreReport:
    # A store of another job here (only in a staging directory left complete by an earlier rebuild:
    # a complete `out_dir` is rebuilt beside): drop its meta.json first, so that while split files
    # are being replaced the directory never claims to be a complete store.
    if (out_dir / "meta.json").is_file():
        (out_dir / "meta.json").unlink()

    partial = out_dir / PARTIAL_DIR
    job_path = partial / "job.json"
    if partial.exists():
        try:
            same_job = read_json(job_path).get("job") == job
        except (OSError, ValueError, AttributeError):
            same_job = False
        if not same_job:  # another job's (or unreadable) partial work: start clean
            shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    write_json(job_path, {"job": job})

    # Chunk-level progress: `<key>.json` (what happened to each clip) is written by the parent only
    # after the worker's `<key>.npy` landed, so its presence marks a finished chunk.
    done: dict[str, dict] = {}
    for result_path in partial.glob("*-*.json"):
        key = result_path.stem
        try:
            if (partial / f"{key}.npy").is_file():
                done[key] = read_json(result_path)
        except ValueError:
            pass
    resumed = len(done)

    tasks = []
    for name, recs in splits.items():
        for c, start in enumerate(range(0, len(recs), chunk_size)):
            key = f"{name}-{c:06d}"
            if key in done:
                continue
            clips = [(start + i, r.path) for i, r in enumerate(recs[start : start + chunk_size])]
            tasks.append({"key": key, "clips": clips, "out": str(partial / f"{key}.npy")})

    def record(result: dict) -> None:
        done[result["key"]] = {k: result[k] for k in ("ok", "skipped", "warned")}
        write_json(partial / f"{result['key']}.json", done[result["key"]])

    bar = _progress_bar(progress, len(tasks) + resumed, resumed)
    logmel = LogMel(cfg)
    try:
        if workers == 1:
            _run_in_process(tasks, logmel, record, bar)
        else:
            _run_in_pool(tasks, logmel, workers, record, bar)
    finally:
        if bar is not None:
            bar.close()

    counts, skipped, warned = {}, [], []
    n_frames = cfg.n_frames(cfg.clip_samples)
    for name, recs in splits.items():
        keys = [f"{name}-{c:06d}" for c in range(-(-len(recs) // chunk_size))]
        kept = [recs[i] for key in keys for i in done[key]["ok"]]
        for key in keys:
            skipped.extend(tuple(s) for s in done[key]["skipped"])
            warned.extend(tuple(w) for w in done[key]["warned"])
        _assemble_split(out_dir / f"{name}.f16", [partial / f"{key}.npy" for key in keys], len(kept), n_frames, cfg.n_mels)
        write_manifest(kept, out_dir / f"{name}.index.csv")
        counts[name] = len(kept)

    report_path = out_dir / "report.csv"
    write_csv(report_path, ("path", "reason"), skipped)
    warnings_path = out_dir / "warnings.csv"
    if warned:
        write_csv(warnings_path, ("path", "warning"), warned)
    elif warnings_path.exists():
        warnings_path.unlink()
    meta = {
        "version": STORE_VERSION,
        "feature_config": cfg.to_dict(),
        "classes": classes,
        "splits": {name: {"n": n, "n_frames": n_frames, "n_mels": cfg.n_mels} for name, n in counts.items()},
        "dtype": "float16",
        "manifest": str(manifest_path.absolute()),
        "job": job,
    }
    write_json(out_dir / "meta.json", meta)  # written last: its presence means the store is complete
    shutil.rmtree(partial, ignore_errors=True)
    return StoreReport(
        out_dir=out_dir,
        counts=counts,
        skipped=skipped,
        warned=warned,
        report_path=report_path,
        resumed_chunks=resumed,
        computed_chunks=len(tasks),
        seconds=time.perf_counter() - started,
    )


def _finished_store_report(out_dir: Path, job: str, started: float) -> StoreReport | None:
    """If `out_dir` already holds a complete store of this very job, describe it (nothing to do)."""
    try:
        meta = read_json(out_dir / "meta.json")
        if meta.get("job") != job:
            return None
        store = FeatureStore(out_dir)
        counts = {name: len(store.split(name)) for name in store.splits}
        skipped = _read_csv(out_dir / "report.csv")
        warned = _read_csv(out_dir / "warnings.csv") if (out_dir / "warnings.csv").exists() else []
    except (OSError, ValueError, AttributeError, DataError):
        return None
    return StoreReport(out_dir, counts, skipped, warned, out_dir / "report.csv", seconds=time.perf_counter() - started)


def _read_csv(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return [tuple(r) for r in rows[1:]]


def _run_in_process(tasks: list[dict], logmel: LogMel, record, bar) -> None:
    global _WORKER_LOGMEL
    saved_threads, saved_logmel = torch.get_num_threads(), _WORKER_LOGMEL
    _init_worker(logmel)
    try:
        for task in tasks:
            record(_featurise_chunk(task))
            if bar is not None:
                bar.update(1)
    finally:
        torch.set_num_threads(saved_threads)
        _WORKER_LOGMEL = saved_logmel


def _run_in_pool(tasks: list[dict], logmel: LogMel, workers: int, record, bar) -> None:
    if not tasks:
        return
    # 'spawn'/'forkserver' rather than 'fork': forking a process that has started torch's thread
    # pools (or a CUDA context) can deadlock.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        # Workers fork from a server that already imported torch and this module: faster start-up.
        ctx.set_forkserver_preload(["raresound.store"])
    pending = iter(tasks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(logmel,)) as pool:
        # Keep a bounded number of chunks in flight so an interrupt loses little work.
        in_flight = {pool.submit(_featurise_chunk, t) for t in _take(pending, 2 * workers)}
        try:
            while in_flight:
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    record(fut.result())
                    if bar is not None:
                        bar.update(1)
                in_flight |= {pool.submit(_featurise_chunk, t) for t in _take(pending, len(finished))}
        except BrokenProcessPool:
            raise DataError(
                "a featurisation worker process died (out of memory?); finished chunks are saved, rerun to resume"
            ) from None
        except BaseException:
            for fut in in_flight:
                fut.cancel()
            raise


def _take(iterator, n: int) -> list:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) == n:
            break
    return out


def _assemble_split(path: Path, chunk_files: list[Path], n: int, n_frames: int, n_mels: int) -> None:
    """Stream chunk arrays into one raw float16 file (one chunk in RAM at a time), atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as out:
            written = 0
            for chunk_file in chunk_files:
                arr = np.load(chunk_file, mmap_mode="r")
                if arr.dtype != DTYPE or arr.shape[1:] != (n_frames, n_mels):
                    raise DataError(f"{chunk_file}: unexpected chunk {arr.dtype} {arr.shape}; delete the store and rebuild")
                if arr.shape[0]:
                    out.write(np.ascontiguousarray(arr).tobytes())
                written += arr.shape[0]
        if written != n:
            raise DataError(f"{path}: assembled {written} clips, expected {n}")


def _progress_bar(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from raresound.progress import progress_bar

    return progress_bar(total=total, initial=initial, unit="chunk", desc="featurising", file=sys.stderr,
                        dynamic_ncols=True)
