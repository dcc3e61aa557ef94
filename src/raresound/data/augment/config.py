"""The augmentation chain from a YAML-style mapping (the `augment:` section of a config):

    augment:
      gain: {min_gain_db: -6, max_gain_db: 6, p: 0.5}   # needs the normaliser (RandomGain)
      time_shift: {max_shift: 100, mode: roll, p: 0.5}
      mixup: {alpha: 0.2, targets: max, p: 0.5}
      freq_mask: {n_masks: 2, max_width: 8, fill: zero, p: 0.5}
      time_mask: {n_masks: 2, max_width: 20, fill: zero, p: 0.5}
      remix: {ebr_db: [-6, 0, 6], p: 0.5}                # waveform level: build_remix

Each key's mapping holds the transform's constructor parameters (unset ones keep their defaults); a key
that is absent, null or false is off. `None` / `{}` is no augmentation at all (the identity Compose),
which is the default everywhere: the paper's recipes must stay faithful.

The feature chain always runs in the order above (gain, time_shift, mixup, freq_mask, time_mask),
whatever the mapping's order: gain and shift act on each source before mixup mixes two, and the masks
come last so a masked span is masked in the mixture. `remix` is not part of the feature chain (it makes
waveforms from event and background sources); `build_remix` builds it.

Unknown keys and bad values raise ConfigError naming the dotted field, e.g. `augment.time_mask.max_width`.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, Mapping, Sequence

from raresound.config_schema import check_value
from raresound.data.augment.base import ParameterError
from raresound.data.augment.compose import Compose
from raresound.data.augment.event_remix import EventRemix
from raresound.data.augment.freq_mask import FreqMask
from raresound.data.augment.gain import RandomGain
from raresound.data.augment.mixup import Mixup
from raresound.data.augment.time_mask import TimeMask
from raresound.data.augment.time_shift import TimeShift
from raresound.errors import ConfigError

# Feature-level transforms in the order the chain applies them.
TRANSFORMS = {"gain": RandomGain, "time_shift": TimeShift, "mixup": Mixup, "freq_mask": FreqMask,
              "time_mask": TimeMask}
# Parameters that come from the data, not from the config.
_NOT_CONFIG = {"std", "mean", "log_offset", "events", "backgrounds", "clip_seconds", "sample_rate"}
KEYS = (*TRANSFORMS, "remix")


def _parameters(cls) -> dict[str, Any]:
    """{config parameter: annotation} of a transform's constructor."""
    hints = typing.get_type_hints(cls.__init__)
    names = [n for n in inspect.signature(cls.__init__).parameters if n != "self" and n not in _NOT_CONFIG]
    return {n: hints.get(n, Any) for n in names}


def _section(config: Mapping | None, field: str) -> dict:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ConfigError(field, f"must be a mapping, got {type(config).__name__}")
    for key in config:
        if key not in KEYS:
            raise ConfigError(f"{field}.{key}", f"unknown augmentation (known: {', '.join(KEYS)})")
    out = {}
    for key, value in config.items():
        if value is None or value is False:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{field}.{key}", f"must be a mapping of parameters (or null/false for off), "
                                                f"got {value!r}")
        out[key] = dict(value)
    return out


def _kwargs(cls, params: dict, prefix: str) -> dict:
    known = _parameters(cls)
    kwargs = {}
    for name, value in params.items():
        if name not in known:
            raise ConfigError(f"{prefix}.{name}", f"unknown parameter (known: {', '.join(known)})")
        annotation = list[float] if name == "ebr_db" else known[name]  # a YAML list, not any Sequence
        kwargs[name] = check_value(f"{prefix}.{name}", value, annotation)
    return kwargs


def _construct(cls, prefix: str, *args, **kwargs):
    try:
        return cls(*args, **kwargs)
    except ParameterError as exc:
        raise ConfigError(f"{prefix}.{exc.parameter}", exc.reason) from None


def validate_augmentation(config: Mapping | None, field: str = "augment") -> dict:
    """The enabled sections of `config` with their parameters checked (ConfigError otherwise)."""
    sections = _section(config, field)
    checked = {}
    for key, params in sections.items():
        cls = EventRemix if key == "remix" else TRANSFORMS[key]
        checked[key] = _kwargs(cls, params, f"{field}.{key}")
    return checked


def build_augmentation(config: Mapping | None, normalizer=None, feature_config=None,
                       field: str = "augment") -> Compose:
    """The feature-level chain of `config` (module doc). `gain` needs `normalizer` (its per-band std;
    with `feature_config` too the exact mapping, see RandomGain)."""
    checked = validate_augmentation(config, field)
    chain = []
    for key, cls in TRANSFORMS.items():
        if key not in checked:
            continue
        prefix = f"{field}.{key}"
        if cls is RandomGain:
            if normalizer is None or getattr(normalizer, "std", None) is None:
                raise ConfigError(prefix, "needs the normaliser's per-band std (features are normalised log-mel)")
            exact = {} if feature_config is None else {"mean": normalizer.mean, "log_offset": feature_config.log_offset}
            chain.append(_construct(cls, prefix, normalizer.std, **exact, **checked[key]))
        else:
            chain.append(_construct(cls, prefix, **checked[key]))
    return Compose(chain)


def build_remix(config: Mapping | None, events: Sequence, backgrounds: Sequence, clip_seconds: float = 10.0,
                sample_rate: int = 16000, field: str = "augment") -> EventRemix | None:
    """The `remix` section as an EventRemix over these sources, or None when it is off."""
    checked = validate_augmentation(config, field)
    if "remix" not in checked:
        return None
    return _construct(EventRemix, f"{field}.remix", events, backgrounds, clip_seconds, sample_rate, **checked["remix"])
