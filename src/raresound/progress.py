"""Progress bars: drawn on a terminal, left out of logs.

A tqdm bar redraws itself after a carriage return on every update; in a log file or a pipe that
is one endless line of redraws. tqdm's `disable=None` turns the bar off when its stream
is not a TTY, so every bar of the package is made here with it.
"""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(enabled: bool = True, **options):
    """A tqdm bar over `options` (total, desc, file, ...): off when not `enabled`, and off when its
    stream (default standard error) is not a terminal. A disabled bar's update/close do nothing."""
    return tqdm(disable=None if enabled else True, **options)
