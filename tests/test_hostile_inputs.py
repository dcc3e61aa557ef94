"""Hostile inputs (issue 24), one table: each case builds its inputs in its own tmp_path, runs one
`raresound` command in-process and checks

* the exit status (2: a refused input; 0: accepted with a warning),
* the message: an error is exactly one stderr line `raresound: error: ...` holding the expected
  text; a warning is one line holding it (other lines, such as detect's summary, may follow);
* no "Traceback" anywhere on stderr;
* nothing was written outside tmp_path (the shared kit of inputs and every sibling directory are
  compared byte for byte, the ancestors' listings by name), and for an error nothing was written
  inside it either (unless the case says the command rewrites its own run files first).

The shared kit (a bundle, a tiny store, a one-epoch run, audio) is built once per module; a case
that tampers with part of it copies that part into its tmp_path first. The second half of the module
fuzzes the parsers with hypothesis: any input either parses or raises a RaresoundError.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from helpers import make_bundle, make_store, planted_wave, saved_frame_bundle, train, write_wav
from raresound.cli import main
from raresound.errors import RaresoundError

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- the shared kit


@dataclass
class Kit:
    root: Path
    bundle: Path  # lstm, classes a/b/c, 1-s clips, thresholds 0.5
    wav: Path  # 2 s at 16 kHz
    wav8k: Path  # 2 s at 8 kHz
    store: Path  # classes alarm/knock, train + val
    config: Path  # baseline recipe, hidden 8
    run: Path  # one finished epoch of `config` on `store`
    ref: Path  # reference event list (a.wav, dog)


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Kit:
    root = tmp_path_factory.mktemp("kit")
    bundle = make_bundle(root / "bundle")
    wav = write_wav(root / "a.wav", planted_wave(2.0, [(0.5, 1.0)]))
    wav8k = write_wav(root / "low.wav", planted_wave(2.0, [], sr=8000), sr=8000)
    # >= 10 val positives per class: no small-split warning before the errors under test
    store = make_store(root / "store", {"train": {"alarm": 12, "knock": 8, "": 24}, "val": {"alarm": 10, "knock": 10, "": 8}})
    config = root / "recipe.yaml"
    config.write_text("seed: 1\nmodel:\n  hidden_size: 8\ntraining:\n  batch_size: 16\n  max_epochs: 1\n"
                      "  max_train_batches: 1\n  device: cpu\n")
    assert train(config, store, root / "run") == 0
    ref = root / "ref.tsv"
    ref.write_text("a.wav\t1.0\t2.0\tdog\nb.wav\t3.0\t4.0\tdog\n")
    return Kit(root, bundle, wav, wav8k, store, config, root / "run", ref)


# ----------------------------------------------------------------------------- builders


def copy(src: Path, w: Path, name: str | None = None) -> Path:
    dst = w / (name or src.name)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)
    return dst


def tampered_bundle(w: Path, kit: Kit, meta=None, weights=None) -> Path:
    path = copy(kit.bundle, w, "bundle")
    if meta is not None:
        data = json.loads((path / "bundle.json").read_text())
        meta(data)
        (path / "bundle.json").write_text(json.dumps(data))
    if weights is not None:
        state = load_file(str(path / "model.safetensors"))
        weights(state)
        save_file(state, str(path / "model.safetensors"), metadata=_header(kit.bundle))
    return path


def _header(bundle: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(bundle / "model.safetensors"), framework="pt") as f:
        return f.metadata()


def detect_bundle(**tamper) -> Callable:
    return lambda w, kit: ["detect", str(tampered_bundle(w, kit, **tamper)), str(kit.wav)]


def text(w: Path, name: str, content: str) -> Path:
    path = w / name
    path.write_text(content)
    return path


def evaluate_events(ref: str, est: str | None = None, *extra: str) -> Callable:
    def build(w, kit):
        r = text(w, "ref.tsv", ref)
        e = [str(text(w, "est.tsv", est))] if est is not None else []
        return ["evaluate-events", str(r), *e, *[x.replace("{w}", str(w)) for x in extra]]
    return build


def store_train(counts, classes=("alarm", "knock")) -> Callable:
    def build(w, kit):
        store = make_store(w / "store", counts, classes=classes)
        return ["train", "--config", str(kit.config), "--data", str(store), "--out", str(w / "run"),
                "--no-progress", "--threads", "1"]
    return build


def recipe_train(yaml_text: str) -> Callable:
    def build(w, kit):
        cfg = text(w, "recipe.yaml", yaml_text)
        return ["train", "--config", str(cfg), "--data", str(kit.store), "--out", str(w / "run"),
                "--no-progress", "--threads", "1"]
    return build


def resume_with(tamper: Callable[[Path], None]) -> Callable:
    def build(w, kit):
        run = copy(kit.run, w, "run")
        (final,) = sorted(run.glob("stages/*/final.json"))
        tamper(final)
        return ["train", "--config", str(kit.config), "--data", str(kit.store), "--out", str(run),
                "--no-progress", "--threads", "1"]
    return build


def edit_json(change) -> Callable[[Path], None]:
    def tamper(path: Path):
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return tamper


def manifest(rows: str, command: str = "info") -> Callable:
    def build(w, kit):
        for name in ("a.wav", "b.wav", "c.wav"):
            shutil.copy2(kit.wav, w / name)
        m = text(w, "m.csv", "path,labels,split,source_id\n" + rows)
        if command == "info":
            return ["info", str(m)]
        if command == "mix":
            return ["data", "mix", "--events", str(m), "--out", str(w / "mixout" / "deep"), "--workers", "1"]
        return ["features", "--manifest", str(m), "--out", str(w / "store"), "--quiet", "--clip-seconds", "1",
                *command.split()[1:]]
    return build


def set_item(key, value):
    return lambda d: d.__setitem__(key, value)


def frame_batch(w: Path, kit: Kit) -> list:
    """A frame bundle over a batch whose middle file has 1 sample: the others are scored."""
    bundle = saved_frame_bundle(w / "frames")
    audio = [copy(kit.wav, w, "a.wav"), write_wav(w / "one.wav", np.full(1, 0.01, np.float32)),
             copy(kit.wav, w, "c.wav")]
    return ["detect", str(bundle), *map(str, audio), "--frame-scores", str(w / "scores"), "--out", str(w / "ev.tsv"),
            "--json", str(w / "report.json")]


def frame_batch_outputs(w: Path) -> None:
    assert sorted(p.name for p in (w / "scores").iterdir()) == ["a.tsv", "c.tsv"]
    report = json.loads((w / "report.json").read_text())
    assert [f["filename"] for f in report["files"]] == ["a.wav", "c.wav"]
    assert [s["path"] for s in report["skipped"]] == [str(w / "one.wav")]


REBUILT = {"train": {"alarm": 12, "knock": 8, "": 20}, "val": {"alarm": 10, "knock": 10, "": 8}}  # not the kit's


def moved_run(w: Path, kit: Kit, rebuilt: bool = False, fingerprint: bool = True) -> Path:
    """A copy of the kit's run whose run.json names a copy of its store, w/store (the same store:
    same identity); `rebuilt`: that store is then rebuilt from other clips at the same path;
    `fingerprint=False`: a run made before runs recorded their store's identity."""
    store, run = copy(kit.store, w, "store"), copy(kit.run, w, "run")
    record = json.loads((run / "run.json").read_text())
    record["store"] = str(store.resolve())
    if not fingerprint:
        record.pop("fingerprint")
    (run / "run.json").write_text(json.dumps(record))
    if rebuilt:
        shutil.rmtree(store)
        make_store(store, REBUILT)
    return run


def on_rebuilt_store(*command: str) -> Callable:
    """`raresound <command> RUN ...` (or `... RUN/models/baseline` for train-frames) after the run's
    store was rebuilt."""
    def build(w, kit):
        run = moved_run(w, kit, rebuilt=True)
        if command[0] == "train-frames":
            return ["train-frames", str(run / "models" / "baseline"), "--data", str(w / "store"), "--out",
                    str(w / "frames"), "--epochs", "1", "--threads", "1"]
        return [command[0], str(run), *command[1:]]
    return build


def on_two_second_clips(*command: str) -> Callable:
    """`raresound <command> RUN --data STORE2 ...`, STORE2 holding 2-s clips (the run's are 0.5 s)."""
    def build(w, kit):
        store = make_store(w / "store2", REBUILT, clip_seconds=2.0)
        return [command[0], str(copy(kit.run, w, "run")), "--data", str(store), *command[1:]]
    return build


def frames_rerun(*changed: str, other_store: bool = False) -> Callable:
    """train-frames into w/frames, then the case: the same command with `changed` options (or
    another store) into the same --out."""
    def build(w, kit):
        command = ["train-frames", str(kit.run / "models" / "baseline"), "--data", str(kit.store), "--out",
                   str(w / "frames"), "--epochs", "1", "--batch-size", "16", "--threads", "1"]
        assert main(command) == 0
        if other_store:
            command[3] = str(make_store(w / "store2", REBUILT))
        return command + list(changed)
    return build


# ----------------------------------------------------------------------------- the table


@dataclass
class Case:
    id: str
    argv: Callable[[Path, Kit], list]
    rc: int
    message: str
    writes_inside: bool = False  # an error case that rewrites its own run files before refusing
    check: Callable[[Path], None] | None = None  # more checks on the case's directory afterwards


CASES = [
    # bundles: format version, class names, feature config, weights, thresholds (item 12)
    Case("bundle without format", detect_bundle(meta=lambda m: m.pop("format")), 2, "no format version"),
    Case("bundle format 99", detect_bundle(meta=set_item("format", "raresound-bundle/99")), 2,
         "bundle format version 99 is newer than this raresound reads"),
    Case("bundle of another format", detect_bundle(meta=set_item("format", "onnx/1")), 2, "unknown bundle format"),
    Case("duplicate class names", detect_bundle(meta=set_item("classes", ["a", "a", "c"])), 2,
         "duplicate class name(s) a"),
    Case("feature config changed to 8 kHz", detect_bundle(meta=lambda m: m["feature_config"].update(sample_rate=8000)),
         2, "feature_config or normalizer differs from the one the weights were trained with (sample_rate 8000"),
    Case("normaliser edited", detect_bundle(meta=lambda m: m["normalizer"]["std"].__setitem__(3, 9.0)), 2,
         "feature_config or normalizer differs"),
    Case("integer weights", detect_bundle(weights=lambda s: s.update(
        {"head.linear.weight": torch.ones(3, 8, dtype=torch.int64)})), 2,
         "tensor head.linear.weight is int64, the model needs floating-point values"),
    Case("absurd weights", detect_bundle(weights=lambda s: s["head.linear.bias"].fill_(1e9)), 2,
         "tensor head.linear.bias holds |w| = 1e+09 > 1e+06"),
    Case("nan weights", detect_bundle(weights=lambda s: s["head.linear.bias"].fill_(float("nan"))), 2,
         "tensor head.linear.bias holds NaN or inf"),
    Case("threshold -3", detect_bundle(meta=lambda m: m["thresholds"].update(b=-3)), 2,
         "thresholds must be scores in [0, 1], got {'b': -3.0}"),
    Case("frame threshold 7", detect_bundle(meta=lambda m: m["info"].update(frame_thresholds={"a": 7})), 2,
         "info.frame_thresholds must be scores in [0, 1]"),
    Case("bundle.json not JSON", lambda w, kit: ["detect", str(_garbled(w, kit)), str(kit.wav)], 2, "not valid JSON"),
    Case("hidden_size 1e7 in bundle", detect_bundle(meta=lambda m: m["spec"]["backbone_kwargs"].update(hidden_size=10**7)),
         2, "spec field hidden_size must be an integer in [1, 4096]"),
    # audio below 16 kHz (item 14)
    Case("8 kHz audio", lambda w, kit: ["detect", str(kit.bundle), str(kit.wav8k), "--out", str(w / "ev.tsv")], 0,
         "sampled at 8000 Hz, below the 16000 Hz the features use: 13 of 64 mel bands (above its 4000 Hz Nyquist) "
         "are empty"),
    # event lists (items 10 and 14)
    Case("space-separated estimate", evaluate_events("a.wav\t1.0\t2.0\tdog\n", "a.wav 1.0 2.0 dog\n"), 2,
         "est.tsv:1: fields separated by spaces"),
    Case("space-separated reference", evaluate_events("a.wav\t1.0\t2.0\tdog\nb.wav 3 4 dog\n", "a.wav\t1\t2\tdog\n"),
         2, "ref.tsv:2: fields separated by spaces"),
    Case("empty reference", evaluate_events("", "a.wav\t1\t2\tdog\n"), 2, "ref.tsv: the reference lists no files"),
    Case("reference of comments only", evaluate_events("# nothing\n\n", "a.wav\t1\t2\tdog\n"), 2,
         "the reference lists no files"),
    Case("segment 1e-9", evaluate_events("a.wav\t1\t2\tdog\n", "a.wav\t1\t2\tdog\n", "--segment", "1e-9"), 2,
         "--segment must be a number of seconds >= 0.001"),
    Case("segment grid too fine for the file", evaluate_events("a.wav\t1\t2e4\tdog\n", "a.wav\t1\t2\tdog\n",
                                                               "--segment", "0.001"), 2,
         "file 'a.wav': 20000 s in 0.001 s segments is 2e+07 segments (limit 1e+07)"),
    Case("durations 1e10 s", lambda w, kit: evaluate_events("a.wav\t1\t2\tdog\n", "a.wav\t1\t2\tdog\n", "--segment",
                                                            "1", "--durations", str(text(w, "d.tsv", "a.wav\t1e10\n")))(w, kit),
         2, "d.tsv:1: duration 1e+10 s is beyond any recording"),
    Case("onset 1e300", evaluate_events("a.wav\t1e300\t1e300\tdog\n", "a.wav\t1\t2\tdog\n", "--segment", "1"), 2,
         "ref.tsv:1: event time 1e+300 s is beyond any recording"),
    Case("overlapping reference events", evaluate_events("a.wav\t1\t3\tdog\na.wav\t2\t4\tdog\n", "a.wav\t1\t2\tdog\n"),
         2, "overlaps the one at"),
    Case("binary event list", lambda w, kit: ["evaluate-events", str(kit.ref),
                                              str(_binary(w))], 2, "a binary file, not an event list"),
    Case("event without label", evaluate_events("a.wav\t1\t2\tdog\n", "a.wav\t1\t2\n"), 2,
         "an event with onset and offset needs its class label"),
    # degenerate data and recipes (items 13 and 14)
    Case("one-clip store", store_train({"train": {"alarm": 1}}, ("alarm",)), 2, "the 'train' split has 1 clip"),
    Case("store without val", store_train({"train": {"alarm": 6, "knock": 6, "": 12}}), 2,
         "the store has no 'val' clips"),
    Case("no positives of a class in val", store_train({"train": {"alarm": 6, "knock": 6, "": 12},
                                                        "val": {"alarm": 2, "": 4}}), 2,
         "split 'val' has 0 clips of knock"),
    Case("every epoch count 0", recipe_train("method: proposed\nproposed: {layer_epochs: 0, e2e_epochs: 0, "
                                             "last_e2e_epochs: 0, head_epochs: 0, finetune_epochs: 0}\n"), 2,
         "config field 'proposed.*_epochs': every stage has 0 epochs"),
    Case("negative epochs", recipe_train("method: proposed\nproposed: {e2e_epochs: -2}\n"), 2,
         "config field 'proposed.e2e_epochs': must be >= 0, got -2"),
    Case("source shared by train and test", manifest("a.wav,dog,train,rec1\nb.wav,,train,rec2\nc.wav,dog,test,rec1\n"),
         0, "source id 'rec1' in both 'train' and 'test'"),
    # protections already on main (rounds 1-2 of issue 24)
    Case("mix label climbing out of --out", manifest("a.wav,../../../../escaped,train,s1\nb.wav,,train,s2\n", "mix"),
         2, "bad label '../../../../escaped': is a path part"),
    Case("manifest label with a control character", manifest("a.wav,do\x07g,train,s1\n"), 2, "contains a control character"),
    Case("manifest label with a slash", manifest("a.wav,dog/cat,train,s1\n"), 2, "bad label 'dog/cat': is a path part"),
    Case("manifest with an unknown split", manifest("a.wav,dog,holdout,s1\n"), 2, "unknown split 'holdout'"),
    Case("detect --out is the input audio", lambda w, kit: ["detect", str(kit.bundle), str(copy(kit.wav, w)),
                                                            "--out", str(w / "a.wav")], 2,
         "--out is the input"),
    Case("detect --json is the bundle's own file", lambda w, kit: ["detect", str(copy(kit.bundle, w)), str(kit.wav),
                                                                   "--json", str(w / "bundle" / "bundle.json")], 2,
         "--json is the input"),
    Case("checkpoint JSON not JSON", resume_with(lambda p: p.write_text("{weights: ")), 2, "not a readable checkpoint",
         writes_inside=True),
    Case("checkpoint weights outside the run", resume_with(edit_json(set_item("weights", "../../../x.safetensors"))), 2,
         "weights must be a file name beside it", writes_inside=True),
    Case("checkpoint without weights", resume_with(edit_json(lambda d: d.pop("weights"))), 2, "checkpoint lacks weights",
         writes_inside=True),
    Case("recipe hidden_size 1e7", recipe_train("model: {hidden_size: 10000000}\n"), 2,
         "config field 'model.hidden_size': must be between 1 and 4096"),
    Case("features --workers 100000", manifest("a.wav,dog,train,s1\nb.wav,,train,s2\n", "features --workers 100000"), 0,
         "workers=100000 is more than the"),
    Case("mix --clip-seconds 1e7", lambda w, kit: [*manifest("a.wav,dog,train,s1\nb.wav,,train,s2\n", "mix")(w, kit),
                                                   "--clip-seconds", "1e7"], 2, "clip_seconds"),
    # provenance: every reader of a run checks its store (items 14 and 16)
    Case("evaluate on a store rebuilt since training", on_rebuilt_store("evaluate", "--split", "val"), 2,
         "store: rebuilt since"),
    Case("calibrate on a store rebuilt since training", on_rebuilt_store("calibrate", "--target", "eer"), 2,
         "store: rebuilt since", writes_inside=True),  # the run's lock file comes and goes
    Case("train-frames on a store rebuilt since training", on_rebuilt_store("train-frames"), 2,
         "store: rebuilt since"),
    Case("evaluate a 0.5-s model on 2-s clips", on_two_second_clips("evaluate", "--split", "val"), 2,
         "store2: features differ from those"),
    Case("calibrate a 0.5-s model on 2-s clips", on_two_second_clips("calibrate", "--target", "eer"), 2,
         "clip_seconds 2.0 (model 0.5)", writes_inside=True),
    Case("evaluate a run made before store identities", lambda w, kit: ["evaluate", str(moved_run(w, kit, fingerprint=False)),
                                                                        "--split", "val"], 0,
         "made before runs recorded their store's identity"),
    Case("train-frames again into its --out with another --lr", frames_rerun("--lr", "0.5"), 2,
         "was trained with other settings (lr: 0.01 -> 0.5", writes_inside=True),
    Case("train-frames again into its --out with another --data", frames_rerun(other_store=True), 2,
         "was trained with other settings (store_identity:", writes_inside=True),
    # a batch with a file too short to score (item 14)
    Case("1-sample file in a --frame-scores batch", frame_batch, 0,
         "one.wav: 1 sample(s) at 16000 Hz is shorter than one 10-ms feature frame", check=frame_batch_outputs),
]


def _garbled(w: Path, kit: Kit) -> Path:
    path = copy(kit.bundle, w, "bundle")
    (path / "bundle.json").write_text('{"format": "raresound-bundle/2", "spec": ')
    return path


def _binary(w: Path) -> Path:
    path = w / "est.tsv"
    path.write_bytes(bytes(range(256)))
    return path


def snapshot(root: Path, skip: Path | None = None) -> dict:
    """{path: (size, mtime_ns, sha of content for small files)} of every file under root (not under `skip`)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip.parent:
            dirnames[:] = [d for d in dirnames if d != skip.name]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def outside(tmp_path: Path) -> dict:
    """The kit, every other case's directory (pytest's basetemp, recursively), the listing of the
    directory above it (where `../../../../x` from a case's output lands) and the working directory.
    (/tmp itself is shared with other processes; temporary files go to the case's own .tmp.)"""
    base = tmp_path.parent
    # Above: not the sibling pytest-N sessions, which concurrent pytest runs create and prune.
    above = sorted(n for n in os.listdir(base.parent) if not re.fullmatch(r"pytest-(\d+|current)", n))
    return {"tree": snapshot(base, skip=tmp_path), "above": above,
            "cwd": sorted(os.listdir(Path.cwd()))}


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temporary files of the command (tempfile, multiprocessing sockets) inside the case's tmp_path."""
    import tempfile

    tmp = tmp_path / ".tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_the_table_has_the_promised_size():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, kit: Kit, tmp_path, private_tmp, capsys):
    argv = case.argv(tmp_path, kit)
    capsys.readouterr()
    before_out, before_in = outside(tmp_path), snapshot(tmp_path, skip=private_tmp)
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert rc == case.rc, err
    if case.rc == 2:
        assert err.startswith("raresound: error: ") and err.count("\n") == 1, err
        assert case.message in err, err
        if not case.writes_inside:
            assert snapshot(tmp_path, skip=private_tmp) == before_in, "an error case wrote into its own directory"
    else:
        assert sum(case.message in line for line in err.splitlines()) == 1, err
        assert all("error" not in line for line in err.splitlines()), err
    assert outside(tmp_path) == before_out, "something outside tmp_path changed"
    if case.check is not None:
        case.check(tmp_path)


# ----------------------------------------------------------------------------- parser fuzzing

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text made of the characters that matter to these formats, plus anything.
format_chars = st.sampled_from(list("\t,; \n\r\"#.-+e0123456789abdfginlow/\\\x00\x07\u00e9\ufeff"))
field = st.one_of(st.text(format_chars, max_size=8), st.floats().map(repr), st.integers(-10**30, 10**30).map(str),
                  st.sampled_from(["a.wav", "dog", "filename", "onset", "nan", "-0", "1e300", ""]))
structured_lines = st.lists(st.tuples(st.lists(field, max_size=6), st.sampled_from(["\t", ",", " "])).map(
    lambda t: t[1].join(t[0])), max_size=6).map("\n".join)
format_text = st.one_of(st.text(format_chars, max_size=200), st.text(max_size=80), structured_lines)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


def _parses_or_raresound_error(fn, *args):
    try:
        fn(*args)
    except RaresoundError as exc:
        assert "\n" not in str(exc), str(exc)


@FUZZ
@given(body=format_text)
def test_fuzz_event_list_reader(tmp_path, body):
    from raresound.evaluation.event_files import read_events
    from raresound.evaluation.events import read_event_rows

    path = tmp_path / "ev.tsv"
    path.write_bytes(body.encode("utf-8", "surrogatepass"))
    _parses_or_raresound_error(read_event_rows, path)
    for role in ("reference", "estimate"):
        _parses_or_raresound_error(read_events, path, role)


@FUZZ
@given(body=format_text, header=st.sampled_from(["path,labels,split,source_id\n",
                                                   "path,labels,split,source_id,duration,onset,offset\n", ""]))
def test_fuzz_manifest_reader(tmp_path, body, header):
    from raresound.data.manifest import read_manifest

    path = tmp_path / "m.csv"
    path.write_bytes((header + body).encode("utf-8", "surrogatepass"))
    _parses_or_raresound_error(read_manifest, path)


@FUZZ
@given(body=format_text)
def test_fuzz_durations_and_score_file_readers(tmp_path, body):
    from raresound.evaluation.score_files import read_durations, read_score_file

    path = tmp_path / "x.tsv"
    path.write_bytes(body.encode("utf-8", "surrogatepass"))
    _parses_or_raresound_error(read_durations, path)
    _parses_or_raresound_error(read_score_file, path)


checkpoint_meta = st.one_of(json_values, st.fixed_dictionaries(
    {"weights": st.one_of(st.just("last.safetensors"), st.just("../last.safetensors"), json_values)},
    optional={"epoch": json_values, "result": json_values, "best_val": json_values}))


@FUZZ
@given(value=checkpoint_meta)
def test_fuzz_checkpoint_json(tmp_path, value):
    from raresound.training.checkpoint import load_checkpoint, read_meta

    model = torch.nn.Linear(2, 1)
    if not (tmp_path / "last.safetensors").exists():
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "last.safetensors"))
    (tmp_path / "last.json").write_text(json.dumps(value))
    _parses_or_raresound_error(read_meta, tmp_path / "last", ("epoch",))
    _parses_or_raresound_error(load_checkpoint, tmp_path / "last", model, None, "cpu", ("epoch",))


@pytest.fixture(scope="module")
def fuzz_bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("fuzz") / "b")


BUNDLE_KEYS = ["format", "spec", "classes", "feature_config", "normalizer", "thresholds", "info"]


@FUZZ
@given(key=st.sampled_from(BUNDLE_KEYS + ["spec.backbone_kwargs", "spec.n_classes", "feature_config.sample_rate",
                                          "feature_config.n_mels", "normalizer.mean", "info.frame_thresholds",
                                          "thresholds.a"]),
       value=json_values, whole=st.booleans())
def test_fuzz_bundle_json(fuzz_bundle, tmp_path, key, value, whole):
    """A bundle.json with one field replaced by any JSON value (or replaced whole) loads or is refused."""
    from raresound.bundle import load_bundle

    path = tmp_path / f"b{abs(hash((key, repr(value), whole))) % 10**9}"
    shutil.copytree(fuzz_bundle, path)
    meta = json.loads((path / "bundle.json").read_text())
    if whole:
        meta = value
    else:
        parent, _, leaf = key.rpartition(".")
        target = meta[parent] if parent else meta
        target[leaf] = value
    (path / "bundle.json").write_text(json.dumps(meta))
    _parses_or_raresound_error(load_bundle, path)
    shutil.rmtree(path)


@FUZZ
@given(body=format_text)
def test_fuzz_bundle_json_text(fuzz_bundle, tmp_path, body):
    from raresound.bundle import load_bundle

    path = tmp_path / "bt"
    if not path.exists():
        shutil.copytree(fuzz_bundle, path)
    (path / "bundle.json").write_bytes(body.encode("utf-8", "surrogatepass"))
    _parses_or_raresound_error(load_bundle, path)
