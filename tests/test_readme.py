"""The README's "Use a trained detector" block, run as written on a tiny run laid out like the demo's
output (runs/demo/...), so that the documented commands cannot drift from the CLI."""

from __future__ import annotations

import io
import re
import shlex
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from raresound.cli import main
from raresound.evaluation.events import read_event_list
from helpers import README, make_store


def readme_commands(section: str = "## Use a trained detector") -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    body = text.split(section, 1)[1]
    block = re.search(r"```bash\n(.*?)```", body, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def demo_like_layout(root: Path) -> None:
    """runs/demo/{store, runs/baseline, data/manifest.csv + audio} as `raresound demo` leaves them."""
    store = make_store(root / "runs/demo/store", clip_seconds=1.0)
    cfg = root / "tiny.yaml"
    cfg.write_text("model:\n  hidden_size: 8\ntraining:\n  batch_size: 16\n  max_epochs: 1\n  device: cpu\n")
    assert main(["train", "--config", str(cfg), "--data", str(store), "--out", "runs/demo/runs/baseline",
                 "--no-progress", "--threads", "1"]) == 0
    audio = root / "runs/demo/data/audio"
    audio.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["path,labels,split,source_id,duration,onset,offset"]
    for i, label in enumerate(["alarm", "", "knock", "alarm", "", "knock"]):
        sf.write(audio / f"clip{i}.wav", rng.uniform(-0.3, 0.3, 32000).astype(np.float32), 16000)
        onset, offset = ("0.5", "1.2") if label else ("", "")
        rows.append(f"audio/clip{i}.wav,{label},test,src{i},2.0,{onset},{offset}")
    (root / "runs/demo/data/manifest.csv").write_text("\n".join(rows) + "\n")


def run_line(tokens: list[str], monkeypatch) -> int:
    if "|" in tokens:  # `tail -c +N FILE | raresound ...`: the file's bytes from offset N-1 on stdin
        left, tokens = tokens[:tokens.index("|")], tokens[tokens.index("|") + 1:]
        assert left[:2] == ["tail", "-c"] and left[2].startswith("+"), left
        data = Path(left[3]).read_bytes()[int(left[2][1:]) - 1:]
        monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))
    assert tokens[0] == "raresound", tokens
    return main(tokens[1:])


def test_use_a_trained_detector_block_runs_on_a_demo_like_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx", reason="the 'export' extra (onnx, onnxruntime) is not installed")
    torch.set_num_threads(1)
    commands = readme_commands()
    assert [c[c.index("raresound") + 1] for c in commands] == ["calibrate", "data", "detect", "detect", "export",
                                                                "evaluate-events"]
    monkeypatch.chdir(tmp_path)
    demo_like_layout(tmp_path)
    capsys.readouterr()
    for tokens in commands:
        assert run_line(tokens, monkeypatch) == 0, " ".join(tokens)
    captured = capsys.readouterr()
    out = captured.out
    bundle = Path("runs/demo/runs/baseline/models/baseline")
    assert (bundle / "model.onnx").stat().st_size > 0 and (bundle / "model.onnx.json").exists()
    reference = read_event_list("runs/demo/long.tsv")  # the labelled clips' spans: 2-s clips, 0.25-s crossfades
    assert len(reference) == 4 and all(abs((e.onset - 0.5) / 1.75 - round((e.onset - 0.5) / 1.75)) < 1e-6
                                       and abs(e.offset - e.onset - 0.7) < 1e-6 for e in reference)
    assert "stream ended: 10.8 s of audio" in captured.err  # the whole file (6 x 2 s - 5 x 0.25 s) went through --stream
    assert "event-based (onset collar 0.5 s)" in out and "Nref 4" in out


def test_frame_level_block_runs_on_a_demo_like_run(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    commands = readme_commands("## Frame-level detection")
    assert [c[1] for c in commands] == ["train-frames", "data", "detect", "evaluate-events"]
    monkeypatch.chdir(tmp_path)
    demo_like_layout(tmp_path)
    capsys.readouterr()
    for tokens in commands:
        assert run_line(tokens, monkeypatch) == 0, " ".join(tokens)
    out = capsys.readouterr().out
    frames = Path("runs/demo/runs/baseline/models/baseline-frames")
    assert (frames / "bundle.json").exists()
    assert sorted(p.name for p in Path("runs/demo/scores").iterdir()) == ["long.tsv"]
    assert "PSDS" in out and "segment-based" in out and "offset" in out
