"""Typed errors. Every expected failure is a RaresoundError whose message is one line naming the
file or config field at fault; the CLI prints it without a traceback."""

from __future__ import annotations

from pathlib import Path


class RaresoundError(Exception):
    """Base class of every expected, user-facing error."""


class AudioError(RaresoundError, ValueError):
    """An audio file cannot be used. Carries the path and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ConfigError(RaresoundError, ValueError):
    """A config field is unknown or has a bad value. Carries the dotted field name."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"config field '{field}': {reason}")


class DataError(RaresoundError, ValueError):
    """A manifest, data set or store is malformed or degenerate."""


class TrainingError(RaresoundError, RuntimeError):
    """Training cannot go on (e.g. non-finite loss); the last good checkpoint is kept."""


class RunMismatchError(RaresoundError, ValueError):
    """A run directory holds a run of another config or store than the one asked for."""


class BusyError(RaresoundError, RuntimeError):
    """Another process is writing into the directory (its lock file names the pid)."""


class OutputError(RaresoundError, OSError):
    """An output cannot be written (directory given for a file, permission, disk full, ...)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot write ({reason})")
