"""Loading a bundle checks it before use: every malformed part is a one-line error naming the file."""

import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from helpers import make_bundle
from raresound.bundle import BUNDLE_JSON, WEIGHTS, load_bundle
from raresound.cli import main
from raresound.errors import ConfigError, DataError


def edit_meta(path, change):
    meta = json.loads((path / BUNDLE_JSON).read_text())
    change(meta)
    (path / BUNDLE_JSON).write_text(json.dumps(meta))


def edit_weights(path, change):
    from safetensors.torch import load_file

    state = load_file(str(path / WEIGHTS))
    change(state)
    save_file(state, str(path / WEIGHTS))


BREAKS = {
    "not json": (lambda p: (p / BUNDLE_JSON).write_text("{spec: "), "not valid JSON"),
    "binary": (lambda p: (p / BUNDLE_JSON).write_bytes(bytes(range(256))), "not valid JSON"),
    "a list": (lambda p: (p / BUNDLE_JSON).write_text("[1]"), "must hold a JSON object"),
    "no spec": (lambda p: edit_meta(p, lambda m: m.pop("spec")), "missing spec"),
    "extra spec key": (lambda p: edit_meta(p, lambda m: m["spec"].update(layers=3)), "unknown field(s) layers"),
    "huge hidden_size": (lambda p: edit_meta(p, lambda m: m["spec"]["backbone_kwargs"].update(hidden_size=10**7)),
                         "spec field hidden_size must be an integer in [1, 4096]"),
    "float n_classes": (lambda p: edit_meta(p, lambda m: m["spec"].update(n_classes=3.5)), "spec field n_classes"),
    "unknown kwarg": (lambda p: edit_meta(p, lambda m: m["spec"]["backbone_kwargs"].update(depth=2)),
                      "spec does not build a model"),
    "too many params": (lambda p: edit_meta(p, lambda m: m["spec"].update(
        backbone="cnn", backbone_kwargs={"n_mels": 1024, "n_frames": 1_000_000}, n_classes=10_000)),
        "parameters (limit"),
    "class list vs outputs": (lambda p: edit_meta(p, lambda m: m.update(classes=["a"])),
                              "1 class name(s) ['a'] for a model of 3 classes"),
    "bad normaliser": (lambda p: edit_meta(p, lambda m: m["normalizer"].update(std=[0.0] * 64)), "normaliser"),
    "no weights": (lambda p: (p / WEIGHTS).unlink(), "cannot read weights"),
    "wrong shape": (lambda p: edit_weights(p, lambda s: s.update({"head.linear.weight": torch.zeros(1, 8)})),
                    "has shape (1, 8)"),
    "extra tensor": (lambda p: edit_weights(p, lambda s: s.update(extra=torch.zeros(2))), "unexpected: extra"),
    "missing tensor": (lambda p: edit_weights(p, lambda s: s.pop("head.linear.bias")), "missing: head.linear.bias"),
    "nan weights": (lambda p: edit_weights(p, lambda s: s["backbone.lstm.weight_hh_l0"][1, 2:4].fill_(float("nan"))),
                    "tensor backbone.lstm.weight_hh_l0 holds NaN or inf"),
    # issue 24: format version, class names, feature config, weights, thresholds
    "no format": (lambda p: edit_meta(p, lambda m: m.pop("format")), "no format version"),
    "future format": (lambda p: edit_meta(p, lambda m: m.update(format="raresound-bundle/99")),
                      "bundle format version 99 is newer than this raresound reads (up to 2)"),
    "version 0": (lambda p: edit_meta(p, lambda m: m.update(format="raresound-bundle/0")),
                  "unknown bundle format version 0"),
    "foreign format": (lambda p: edit_meta(p, lambda m: m.update(format="onnx/1")), "unknown bundle format 'onnx/1'"),
    "format not a string": (lambda p: edit_meta(p, lambda m: m.update(format=2)), "unknown bundle format 2"),
    "duplicate classes": (lambda p: edit_meta(p, lambda m: m.update(classes=["a", "b", "a"])),
                          "duplicate class name(s) a"),
    "8 kHz feature config": (lambda p: edit_meta(p, lambda m: m["feature_config"].update(sample_rate=8000)),
                             "feature_config or normalizer differs from the one the weights were trained with "
                             "(sample_rate 8000"),
    "normaliser edited": (lambda p: edit_meta(p, lambda m: m["normalizer"]["mean"].__setitem__(0, 3.0)),
                          "feature_config or normalizer differs"),
    "no feature digest": (lambda p: edit_weights(p, lambda s: None), "no feature_sha256 in its header"),
    "integer weights": (lambda p: edit_weights(p, lambda s: s.update({"head.linear.bias": torch.zeros(3, dtype=torch.int32)})),
                        "tensor head.linear.bias is int32, the model needs floating-point values"),
    "huge weights": (lambda p: edit_weights(p, lambda s: s["head.linear.weight"][0, 0].fill_(3e7)),
                     "tensor head.linear.weight holds |w| = 3e+07 > 1e+06"),
    "negative threshold": (lambda p: edit_meta(p, lambda m: m["thresholds"].update(b=-3)),
                           "thresholds must be scores in [0, 1], got {'b': -3.0}"),
    "threshold 1.5": (lambda p: edit_meta(p, lambda m: m["thresholds"].update(a=1.5)), "{'a': 1.5}"),
    "nan threshold": (lambda p: edit_meta(p, lambda m: m["thresholds"].update(a=float("nan"))), "{'a': nan}"),
    "frame threshold 2": (lambda p: edit_meta(p, lambda m: m["info"].update(frame_thresholds={"a": 2})),
                          "info.frame_thresholds must be scores in [0, 1], got {'a': 2.0}"),
    "frame thresholds a list": (lambda p: edit_meta(p, lambda m: m["info"].update(frame_thresholds=[0.5])),
                                "info.frame_thresholds must be an object"),
    "frame threshold text": (lambda p: edit_meta(p, lambda m: m["info"].update(frame_thresholds={"a": "hi"})),
                             "info.frame_thresholds must map classes to numbers"),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_broken_bundles_are_one_line_errors_naming_the_file(tmp_path, name):
    path = make_bundle(tmp_path / "b")
    load_bundle(path)  # intact
    breaker, message = BREAKS[name]
    breaker(path)
    with pytest.raises(DataError) as info:
        load_bundle(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_cli_reports_a_broken_bundle_in_one_line(tmp_path, capsys):
    path = make_bundle(tmp_path / "b")
    BREAKS["nan weights"][0](path)
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.zeros(16000, np.float32), 16000)
    for argv in (["detect", str(path), str(tmp_path / "x.wav")], ["export", str(path), "--format", "onnx"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("raresound: error: ") and "NaN" in err and err.count("\n") == 1


def test_weights_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = make_bundle(tmp_path / "b")
    finally:
        os.umask(old)
    assert (path / WEIGHTS).stat().st_mode & 0o777 == 0o644
    assert (path / BUNDLE_JSON).stat().st_mode & 0o777 == 0o644


def test_cuda_without_cuda_is_one_line(tmp_path, capsys, monkeypatch):
    path = make_bundle(tmp_path / "b")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["detect", str(path), str(tmp_path / "x.wav"), "--device", "cuda"]) == 2
    assert "config field '--device': CUDA is not available on this machine; use --device cpu" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # not a device name (devices.device_name)
        main(["detect", str(path), str(tmp_path / "x.wav"), "--device", "tpu9"])
    assert "--device: 'tpu9' is not a device (auto, cpu, cuda, cuda:N or mps)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="^config field 'device': unknown device 'tpu9'"):
        load_bundle(path, device="tpu9")
    with pytest.raises(ConfigError, match="^config field 'device': CUDA is not available on this machine; use `device` cpu$"):
        load_bundle(path, device="cuda")  # the library names its parameter


def test_saved_bundles_carry_the_format_and_the_feature_digest(tmp_path):
    from safetensors import safe_open

    from raresound.bundle import FORMAT, feature_digest

    path = make_bundle(tmp_path / "b")
    meta = json.loads((path / BUNDLE_JSON).read_text())
    assert meta["format"] == FORMAT == "raresound-bundle/2"
    bundle = load_bundle(path)
    with safe_open(str(path / WEIGHTS), framework="pt") as f:
        stored = f.metadata()["feature_sha256"]
    assert stored == feature_digest(bundle.feature_config, bundle.normalizer) and len(stored) == 64
    # re-saving a loaded bundle (calibrate, train-frames) keeps it loadable
    bundle.save(tmp_path / "again")
    load_bundle(tmp_path / "again")


def test_version_1_bundles_load_without_the_digest(tmp_path):
    path = make_bundle(tmp_path / "b")
    edit_weights(path, lambda s: None)  # save_file drops the header metadata
    edit_meta(path, lambda m: m.update(format="raresound-bundle/1"))
    assert load_bundle(path).classes == ["a", "b", "c"]


def test_thresholds_on_the_edges_of_the_score_range_load(tmp_path):
    path = make_bundle(tmp_path / "b")
    # calibrate sets a threshold just above a top score of 1.0 to never fire
    edit_meta(path, lambda m: m["thresholds"].update(a=0.0, b=1.0, c=float(np.nextafter(1.0, 2.0))))
    edit_meta(path, lambda m: m["info"].update(frame_thresholds={"a": 0.0, "b": 1.0}))
    assert load_bundle(path).thresholds["b"] == 1.0
