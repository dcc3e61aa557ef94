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
from raresound.errors import DataError


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
    assert "CUDA is not available" in capsys.readouterr().err
    assert main(["detect", str(path), str(tmp_path / "x.wav"), "--device", "tpu9"]) == 2
    assert "unknown device 'tpu9'" in capsys.readouterr().err
