"""Frame-level heads: targets from onset/offset, the balanced frame loss, training on a frozen
backbone (clip path untouched), and one-pass detection with the result."""

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import planted_wave, write_wav
from raresound.bundle import Bundle, load_bundle
from raresound.cli import main as cli_main
from raresound.data.manifest import ClipRecord, write_manifest
from raresound.detection.frame_detector import FrameDetector
from raresound.features import FeatureConfig, LogMel, Normalizer
from raresound.io import write_json
from raresound.losses.frame_bce import BalancedFrameBCE
from raresound.models.factory import ModelSpec, build_model
from raresound.training.frames import frame_targets, train_frame_head

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = FeatureConfig(clip_seconds=2.0)  # 200 frames x 64 mel
TONE_HZ = 1000.0


def test_frame_targets_mark_the_steps_whose_centre_lies_in_the_event():
    records = [ClipRecord("a.wav", ("x",), "train", "s", 1.0, 0.25, 0.55),
               ClipRecord("b.wav", (), "train", "s", 1.0),
               ClipRecord("c.wav", ("y",), "train", "s", 1.0)]  # weak label: every step
    targets, weak = frame_targets(records, ["x", "y"], n_steps=10, step_seconds=0.1)
    assert weak == 1
    assert targets[0, :, 0].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]  # centres .25 .35 .45 in [.25, .55)
    assert targets[0, :, 1].sum() == 0 and targets[1].sum() == 0
    assert targets[2, :, 1].tolist() == [1] * 10



def test_the_train_frames_help_describes_what_training_stores():
    from raresound.cli import build_parser
    from raresound.training import frames

    parser = build_parser()._subparsers._group_actions[0].choices["train-frames"]
    text = " ".join(parser.format_help().split())
    assert "validation frame F1 is highest" in text and "equal-error" not in text
    assert f"{frames.DEFAULT_MEDIAN_SECONDS:g}-s median filter" in text
    assert f"{frames.DEFAULT_MIN_GAP:g}-s minimum gap" in text
    assert "calibrated clip thresholds are dropped" in text  # what --finetune-epochs does to bundle.thresholds

def test_balanced_frame_bce_by_hand():
    # one class, 1 positive and 3 negative training steps: w = 3, scale = 2 / (1 + 3) = 0.5
    loss = BalancedFrameBCE([1.0], [3.0])
    logits = torch.tensor([[[0.0], [2.0]]])  # [B=1, S=2, L=1]
    targets = torch.tensor([[[1.0], [0.0]]])
    expected = 0.5 * (3 * np.log(2) + np.log(1 + np.exp(2.0))) / 2
    assert loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    x = torch.randn(2, 3, 1, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 2, (2, 3, 1)).double()
    assert torch.autograd.gradcheck(lambda z: loss(z, t), (x,))


def test_a_class_without_positive_steps_is_refused():
    from raresound.errors import DataError

    with pytest.raises(DataError, match="no positive"):
        BalancedFrameBCE([0.0, 2.0], [5.0, 5.0])


def _event_store(root: Path, cfg: FeatureConfig = CFG, counts=(("train", 60), ("val", 24))) -> tuple[Path, Normalizer]:
    """A store of `cfg.clip_seconds` clips: background noise; a 'tone' clip holds a 1-kHz tone in [onset, offset)."""
    logmel = LogMel(cfg)
    rng = np.random.default_rng(0)
    splits, features = {}, {}
    seconds = cfg.clip_seconds
    for split, n in counts:
        records, rows = [], []
        for i in range(n):
            seed = int(rng.integers(1 << 30))
            if i % 2:
                onset = float(np.round(rng.uniform(0.1, 1.2), 2))
                offset = float(np.round(onset + rng.uniform(0.3, 0.7), 2))
                wave = planted_wave(seconds, [(onset, offset)], seed=seed)
                records.append(ClipRecord(f"{split}{i}.wav", ("tone",), split, f"s{i}", seconds, onset, offset))
            else:
                wave = planted_wave(seconds, [], seed=seed)
                records.append(ClipRecord(f"{split}{i}.wav", (), split, f"s{i}", seconds))
            with torch.no_grad():
                rows.append(logmel(torch.from_numpy(wave)).numpy())
        x = np.stack(rows)
        features[split] = x
        x.astype(np.float16).tofile(root / f"{split}.f16")
        write_manifest(records, root / f"{split}.index.csv")
        splits[split] = {"n": n, "n_frames": x.shape[1], "n_mels": x.shape[2]}
    write_json(root / "meta.json", {"version": 1, "feature_config": cfg.to_dict(), "classes": ["tone"],
                                    "splits": splits, "dtype": "float16"})
    return root, Normalizer().fit(features["train"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    store, normalizer = _event_store(root)
    torch.manual_seed(0)
    spec = ModelSpec(backbone="lstm", backbone_kwargs={"n_mels": 64, "hidden_size": 16, "time_pool": 2}, n_classes=1)
    Bundle(build_model(spec).eval(), spec, ["tone"], CFG, normalizer, {"tone": 0.5}).save(root / "clip")
    out = train_frame_head(root / "clip", store, root / "clip-frames", epochs=15, lr=3e-2, patience=15,
                           progress=False, log=lambda *_: None)
    return root, out


def test_training_adds_a_frame_head_and_leaves_the_clip_model_alone(trained):
    root, out = trained
    before, after = load_bundle(root / "clip"), load_bundle(out)
    assert after.model.has_frame_head and not before.model.has_frame_head
    clip_state = before.model.state_dict()
    for name, tensor in after.model.state_dict().items():
        if not name.startswith("frame_head."):
            assert torch.equal(tensor, clip_state[name]), name
    assert after.thresholds == before.thresholds
    frames = after.info["frames"]
    assert frames["step_seconds"] == pytest.approx(0.02)
    assert frames["val_frame_eer"]["tone"] < 0.15  # the tone is easy to place
    assert 0.0 < after.info["frame_thresholds"]["tone"] < 1.0


def test_rerun_resumes_from_the_finished_stage(trained):
    root, out = trained
    first = load_bundle(out).model.frame_head.linear.weight.clone()
    train_frame_head(root / "clip", root, out, epochs=15, lr=3e-2, patience=15, progress=False, log=lambda *_: None)
    assert torch.equal(load_bundle(out).model.frame_head.linear.weight, first)


def test_one_pass_detection_places_a_tone_to_a_tenth_of_a_second(trained, tmp_path):
    _, out = trained
    detector = FrameDetector(load_bundle(out), hop=1.0, median=9)  # 0.18 s: removes blips
    truth = [(3.13, 3.71), (7.4, 8.02)]
    result = detector.detect_wave(planted_wave(11.0, truth, seed=7), 16000, "f.wav")
    assert result.frame_scores.shape == (550, 1)  # 11 s of 20-ms steps
    assert result.scores.shape == (10, 1)  # clip scores of the 2-s windows at 0, 1, ..., 9 s
    events = [(e.onset, e.offset) for e in result.events]
    for a, b in truth:  # each tone is one event, its edges within 0.1 s
        assert sum(abs(on - a) <= 0.1 and abs(off - b) <= 0.1 for on, off in events) == 1
    assert all(off - on < 0.1 for on, off in events if min(abs(on - a) for a, _ in truth) > 0.1)  # blips only
    # streaming in 0.1-s chunks gives the same events
    wave = planted_wave(11.0, truth, seed=7)
    s, streamed = detector.streamer(), []
    for start in range(0, wave.size, 1600):
        streamed += s.push(wave[start : start + 1600])
    streamed += s.finish()
    assert [(round(e.onset, 6), round(e.offset, 6)) for e in sorted(streamed, key=lambda e: e.onset)] == \
           [(round(a, 6), round(b, 6)) for a, b in events]


def test_cli_detect_uses_the_frame_head_and_writes_score_files(trained, tmp_path, capsys):
    _, out = trained
    path = write_wav(tmp_path / "long.wav", planted_wave(11.0, [(3.13, 3.71)], seed=3))
    assert cli_main(["detect", str(out), str(path), "--median", "9", "--out", str(tmp_path / "ev.tsv"),
                     "--frame-scores", str(tmp_path / "scores"), "--threads", "1"]) == 0
    rows = [line.split("\t") for line in (tmp_path / "ev.tsv").read_text().splitlines()]
    assert any(abs(float(r[1]) - 3.13) <= 0.1 and abs(float(r[2]) - 3.71) <= 0.1 for r in rows)
    table = (tmp_path / "scores" / "long.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["onset", "offset", "tone"] and len(table) == 1 + 550


def test_frame_scores_need_a_frame_head(trained, tmp_path, capsys):
    root, _ = trained
    path = write_wav(tmp_path / "a.wav", planted_wave(3.0, []))
    assert cli_main(["detect", str(root / "clip"), str(path), "--frame-scores", str(tmp_path / "s")]) != 0
    assert "frame-level head" in capsys.readouterr().err


def test_python_api_detects_from_frames(trained):
    import raresound

    _, out = trained
    detector = raresound.Detector.from_bundle(out, median=9)
    scores, step = detector.frame_scores(planted_wave(4.0, [(1.0, 2.0)], seed=2), 16000)
    assert scores.shape == (200, 1) and step == pytest.approx(0.02)
    assert scores[60:90].mean() > scores[120:].mean() + 0.1  # inside the tone against after it
    events = detector.detect(planted_wave(4.0, [(1.0, 2.0)], seed=2), 16000)
    assert any(abs(e.onset - 1.0) <= 0.1 and abs(e.offset - 2.0) <= 0.1 for e in events)


def test_finetuning_trains_the_backbone_and_drops_the_clip_calibration(trained):
    root, _ = trained
    out = train_frame_head(root / "clip", root, root / "tuned", epochs=2, lr=3e-2, finetune_epochs=2, progress=False,
                           log=lambda *_: None)
    before, after = load_bundle(root / "clip"), load_bundle(out)
    assert not torch.equal(after.model.backbone.lstm.weight_hh_l0, before.model.backbone.lstm.weight_hh_l0)
    assert after.thresholds == {} and after.info["frames"]["finetuned_epochs"] == 2
    assert {"frames", "frames-finetune"} <= {p.name for p in (out / "training" / "stages").iterdir()}


@pytest.mark.parametrize("backbone, kwargs, head_input, step", [
    ("cnn", {"n_mels": 16, "n_frames": 500}, "e", 0.05),
    ("lstm", {"n_mels": 16, "hidden_size": 8}, "v", 0.01),  # a proposed-style bundle: cluster softmax per step
])
def test_frame_heads_for_the_cnn_and_the_cluster_softmax(tmp_path, backbone, kwargs, head_input, step):
    cfg = FeatureConfig(n_mels=16, clip_seconds=5.0)
    store, normalizer = _event_store(tmp_path, cfg, (("train", 12), ("val", 6)))
    torch.manual_seed(0)
    spec = ModelSpec(backbone=backbone, backbone_kwargs=kwargs, n_classes=1,
                     **({"cluster_k": 4, "head_input": "v"} if head_input == "v" else {}))
    Bundle(build_model(spec).eval(), spec, ["tone"], cfg, normalizer, {"tone": 0.5}).save(tmp_path / "clip")
    out = train_frame_head(tmp_path / "clip", store, epochs=1, head_input=head_input, progress=False, log=lambda *_: None)
    bundle = load_bundle(out)
    assert out == Path(str((tmp_path / "clip").resolve()) + "-frames") and bundle.spec.frame_head_input == head_input
    result = FrameDetector(bundle).detect_wave(planted_wave(7.0, [(2.0, 3.0)]), 16000)
    assert result.step_seconds == pytest.approx(step) and result.frame_scores.shape == (round(7.0 / step), 1)


def test_train_frames_bad_inputs_are_one_line_errors(trained, tmp_path, capsys):
    root, _ = trained
    from helpers import make_store

    other = make_store(tmp_path / "other", clip_seconds=2.0)  # classes alarm/knock, not the bundle's
    assert cli_main(["train-frames", str(root / "clip"), "--data", str(other)]) != 0
    assert "differ from the bundle's" in capsys.readouterr().err
    assert cli_main(["train-frames", str(root / "clip"), "--data", str(root), "--epochs", "0"]) != 0
    assert "epochs" in capsys.readouterr().err
    probe_spec = ModelSpec(backbone="stats", backbone_kwargs={"n_mels": 64}, n_classes=1)
    Bundle(build_model(probe_spec), probe_spec, ["tone"], CFG, load_bundle(root / "clip").normalizer,
           {"tone": 0.5}).save(tmp_path / "probe")
    assert cli_main(["train-frames", str(tmp_path / "probe"), "--data", str(root)]) != 0
    err = capsys.readouterr().err
    assert "no per-step outputs" in err and len(err.strip().splitlines()) == 1


def test_train_frames_records_its_settings_and_resumes_only_the_same(trained, tmp_path, capsys):
    from raresound.errors import RunMismatchError
    from raresound.io import read_json

    root, _ = trained
    kwargs = dict(epochs=1, lr=3e-2, progress=False, log=lambda *_: None)
    out = train_frame_head(root / "clip", root, tmp_path / "f", **kwargs)
    settings = read_json(out / "training" / "settings.json")
    assert settings["lr"] == 3e-2 and settings["store"] == str(root.resolve()) and settings["store_identity"]
    assert load_bundle(out).info["frames"]["settings"] == settings and not (out / ".lock").exists()
    weights = (out / "model.safetensors").read_bytes()
    assert train_frame_head(root / "clip", root, out, **kwargs) == out  # the same settings: resumes (finished)
    assert (out / "model.safetensors").read_bytes() == weights
    with pytest.raises(RunMismatchError, match=r"other settings \(epochs: 1 -> 2.*train into a new `out_dir`"):
        train_frame_head(root / "clip", root, out, **{**kwargs, "epochs": 2})
    # the command line names its flag instead of the parameter
    assert cli_main(["train-frames", str(root / "clip"), "--data", str(root), "--out", str(out), "--epochs", "2",
                     "--threads", "1"]) == 2
    assert "train into a new --out, or delete it" in capsys.readouterr().err
    (out / "training" / "settings.json").unlink()  # an output of a raresound before settings were recorded
    with pytest.raises(RunMismatchError, match="no record of their settings"):
        train_frame_head(root / "clip", root, out, **kwargs)


def test_train_frames_device_is_where_it_trains_not_a_setting(trained, tmp_path, capsys, monkeypatch):
    from raresound.io import read_json

    root, _ = trained
    kwargs = dict(epochs=1, lr=3e-2, progress=False, log=lambda *_: None)
    out = train_frame_head(root / "clip", root, tmp_path / "f", device="auto", **kwargs)
    assert "device" not in read_json(out / "training" / "settings.json")
    weights = (out / "model.safetensors").read_bytes()
    assert train_frame_head(root / "clip", root, out, device="cpu", **kwargs) == out  # resumes on another device
    assert (out / "model.safetensors").read_bytes() == weights
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli_main(["train-frames", str(root / "clip"), "--data", str(root), "--out", str(tmp_path / "g"),
                     "--device", "cuda", "--threads", "1"]) == 2
    assert "config field '--device': CUDA is not available on this machine; use --device cpu" in capsys.readouterr().err
