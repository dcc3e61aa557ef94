"""One pass over the signal: every feature frame goes through the backbone once.

Sliding-window detection (`raresound.detect.WindowDetector`) re-scores each frame window/hop times
(10 x at a 1-s hop). Here the backbone runs over the signal as one sequence, chunk by chunk as the
frames arrive, and both outputs are read off its per-step outputs (`backbone.sequence`):

* frame-level logits, one row per step (`step_frames` feature frames: 10-40 ms for the LSTM, 50 ms
  for the paper CNN), from the detector's frame head;
* clip-level logits of the hop grid's windows (`detection.framing.WindowGrid`), by pooling each
  window's steps exactly as the backbone pools a clip (`backbone.pool_windows`).

How the chunks join (`steps_runner`):

* LSTM: the (h, c) state is carried from chunk to chunk, so the outputs are those of one LSTM pass
  over the whole signal, to float rounding. A window's clip score therefore sees the state the
  signal before it left, where `WindowDetector` starts every window from a zero state: the two
  definitions coincide for the first window (and a signal of one window), and differ after it by
  how much the LSTM remembers (measured by `benchmarks/detect.py`).
* CNN: every chunk is extended by CONTEXT_STEPS steps of real frames on each side and only its
  interior steps are kept; an interior step's receptive field (conv 7 - pool 5 - conv 7: 18 frames
  before, 22 after) lies inside the extended chunk, so it is computed as by one convolution over
  the whole signal. The signal's own edges are the convolutions' zero padding, as in training. A
  window's clip score differs from `WindowDetector`'s only in the steps within the receptive field
  of the window's edges (there the windowed network sees zero padding, one pass sees the signal),
  and equals it for a signal of one window.

* CRNN (`models.crnn`): the conv blocks run as the CNN's, on chunks extended by real context (their
  receptive field, `lookahead_frames`, rounded up to whole steps); the causal (unidirectional) GRU
  carries its state from chunk to chunk like the LSTM; the bidirectional GRU needs the whole signal,
  so it runs once over all conv steps at the end (offline only: it cannot stream).

Latency: the LSTM emits a step once its `time_pool` frames exist; the CNN once CONTEXT_STEPS steps
(250 ms) of frames after it exist; the causal CRNN once its conv context after it exists.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from raresound.detection.framing import WindowGrid
from raresound.errors import ConfigError
from raresound.models.backbones import LSTMBackbone, PaperCNN
from raresound.models.crnn import CRNN
from raresound.models.detector import Detector


class LSTMSteps:
    """Frames -> LSTM steps, carrying (h, c) across chunks; partial steps wait for their frames."""

    LOOKAHEAD_STEPS = 1  # a step is emitted once its own frames exist

    def __init__(self, backbone: LSTMBackbone):
        self.backbone = backbone
        self.step = backbone.step_frames
        self._state = None
        self._rest: Tensor | None = None

    def push(self, frames: Tensor) -> Tensor | None:
        if self._rest is not None:
            frames = torch.cat([self._rest, frames])
        whole = frames.shape[0] // self.step * self.step
        self._rest = frames[whole:] if whole < frames.shape[0] else None
        return self._run(frames[:whole]) if whole else None

    def finish(self) -> Tensor | None:
        rest, self._rest = self._rest, None
        return self._run(rest) if rest is not None else None  # a short last step, averaged as in training

    def _run(self, frames: Tensor) -> Tensor:
        out, self._state = self.backbone.sequence(frames.unsqueeze(0), self._state)
        return out[0]


class ContextSteps:
    """Frames -> steps of a convolutional front end, each computed once from a chunk extended by
    `context` steps of real frames on both sides (module doc); `run(frames [1, F, M]) -> [1, S, ...]`."""

    def __init__(self, run, step: int, context: int):
        self.run = run
        self.step = step
        self.context = context
        self._frames: Tensor | None = None
        self._base = 0  # global frame index of _frames[0]
        self._next = 0  # next step to emit

    def push(self, frames: Tensor) -> Tensor | None:
        self._frames = frames if self._frames is None else torch.cat([self._frames, frames])
        end = (self._base + self._frames.shape[0]) // self.step - self.context  # steps < end are interior
        return self._emit(end, right_edge=False)

    def finish(self) -> Tensor | None:
        if self._frames is None:
            return None
        return self._emit((self._base + self._frames.shape[0]) // self.step, right_edge=True)

    def _emit(self, end: int, right_edge: bool) -> Tensor | None:
        if end <= self._next:
            return None
        s, c = self.step, self.context
        lo = max(0, (self._next - c) * s)  # global frames [lo, hi): the steps plus their context
        hi = self._base + self._frames.shape[0] if right_edge else (end + c) * s
        chunk = self._frames[lo - self._base : hi - self._base]
        steps = self.run(chunk.unsqueeze(0))[0]
        first = self._next - lo // s
        out = steps[first : first + end - self._next]
        self._next = end
        keep = max(0, (end - c) * s)  # the next chunk's left context
        self._frames = self._frames[keep - self._base :]
        self._base = keep
        return out


class CNNSteps(ContextSteps):
    """Frames -> paper-CNN steps, each computed once from a chunk extended by real context."""

    CONTEXT_STEPS = 5  # > the 22 frames a step's receptive field reaches ahead, in whole steps
    LOOKAHEAD_STEPS = CONTEXT_STEPS + 1  # its own frames, then the context after them

    def __init__(self, backbone: PaperCNN):
        self.backbone = backbone
        super().__init__(lambda x: backbone.sequence(x)[0], backbone.step_frames, self.CONTEXT_STEPS)


class CRNNSteps:
    """Frames -> CRNN steps: conv steps with real context, then the GRU (state carried when causal;
    once over the whole signal at the end when bidirectional)."""

    def __init__(self, backbone: CRNN):
        self.backbone = backbone
        self.step = backbone.step_frames
        context = -(-backbone.lookahead_frames // self.step)
        self.LOOKAHEAD_STEPS = math.inf if backbone.bidirectional else context + 1
        self._conv = ContextSteps(backbone.conv_steps, self.step, context)
        self._state = None
        self._pending: list[Tensor] = []  # bidirectional: conv steps waiting for the end

    def push(self, frames: Tensor) -> Tensor | None:
        return self._recur(self._conv.push(frames), final=False)

    def finish(self) -> Tensor | None:
        return self._recur(self._conv.finish(), final=True)

    def _recur(self, conv: Tensor | None, final: bool) -> Tensor | None:
        if self.backbone.bidirectional:
            if conv is not None and conv.shape[0]:
                self._pending.append(conv)
            if not final or not self._pending:
                return None
            conv, self._pending = torch.cat(self._pending), []
        elif conv is None or not conv.shape[0]:
            return None
        out, self._state = self.backbone.recur(conv.unsqueeze(0), None if self.backbone.bidirectional else self._state)
        return out[0]


def steps_runner(backbone):
    if isinstance(backbone, LSTMBackbone):
        return LSTMSteps(backbone)
    if isinstance(backbone, PaperCNN):
        return CNNSteps(backbone)
    if isinstance(backbone, CRNN):
        return CRNNSteps(backbone)
    raise ConfigError("detect", f"a {type(backbone).__name__} backbone has no per-step outputs for one-pass detection")


class OnePassScorer:
    """push(normalised frames [n, M]) -> (frame logits [k, L] of the new steps, clip logits [j, L_out]
    of the newly complete windows); finish(n_windows) -> the rest. See the module docstring."""

    def __init__(self, model: Detector, grid: WindowGrid):
        self.model = model.eval()
        self.runner = steps_runner(model.backbone)
        self.step = step = model.step_frames
        if grid.hop_frames % step or grid.window_frames % step:
            seconds = step * grid.frame_hop / grid.sample_rate
            raise ConfigError("detect.hop", f"{grid.hop_seconds} s is not a whole number of the model's "
                                            f"{seconds:g}-s steps")
        self.window_steps = grid.window_frames // step
        self.hop_steps = grid.hop_frames // step
        self._steps: Tensor | None = None  # steps from the next window's first step on
        self._steps_base = 0
        self.n_windows = 0
        self.timings = {"network": 0.0}

    @torch.inference_mode()
    def push(self, frames: Tensor) -> tuple[Tensor | None, Tensor | None]:
        started = time.perf_counter()
        return self._consume(self.runner.push(frames), None, started)

    @torch.inference_mode()
    def finish(self, n_windows: int) -> tuple[Tensor | None, Tensor | None]:
        started = time.perf_counter()
        return self._consume(self.runner.finish(), n_windows, started)

    def _consume(self, steps: Tensor | None, limit: int | None, started: float) -> tuple[Tensor | None, Tensor | None]:
        frame_logits = None
        if steps is not None and steps.shape[0]:
            if self.model.has_frame_head:
                frame_logits = self.model.frame_logits_from_steps(steps.unsqueeze(0))[0]
            self._steps = steps if self._steps is None else torch.cat([self._steps, steps])
        window_logits = self._windows(limit)
        self.timings["network"] += time.perf_counter() - started
        return frame_logits, window_logits

    def _windows(self, limit: int | None) -> Tensor | None:
        if self._steps is None:
            return None
        available = self._steps_base + self._steps.shape[0]
        last = (available - self.window_steps) // self.hop_steps  # last window whose steps all exist
        if limit is not None:
            last = min(last, limit - 1)
        if last < self.n_windows:
            return None
        lo = self.n_windows * self.hop_steps - self._steps_base
        span = self._steps[lo : lo + (last - self.n_windows) * self.hop_steps + self.window_steps]
        logits = self.model.window_logits_from_steps(span, self.window_steps, self.hop_steps)
        self.n_windows = last + 1
        drop = self.n_windows * self.hop_steps - self._steps_base
        self._steps = self._steps[drop:]
        self._steps_base += drop
        return logits
