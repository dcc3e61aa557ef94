"""raresound: rare sound event detection under class imbalance.

Data flows one way: audio -> features -> store -> loader -> model -> scores -> metrics/events.

The public API (README "Python API"): `Detector` (a trained bundle on waveforms: `score`, `detect`),
`build_store`, `train`, `evaluate`, and the `losses` package. Imported on first use, so that
`import raresound` stays fast.
"""

__version__ = "0.1.0"
__all__ = ["Detector", "build_store", "train", "evaluate", "losses", "__version__"]

_API = ("Detector", "build_store", "train", "evaluate")


def __getattr__(name: str):
    if name in _API:
        from raresound import api

        return getattr(api, name)
    if name == "losses":
        import importlib

        return importlib.import_module("raresound.losses")
    raise AttributeError(f"module 'raresound' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
