"""EER tables: one row per model, one column per event class plus the overall (equal-weight mean)
EER, in percent; written as Markdown (for people) and JSON (for programs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from raresound.errors import DataError
from raresound.io import write_json, write_text

MISSING = "n/a"


def _percent(value, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{100.0 * float(value):.{decimals}f}"


def eer_table_markdown(results: Mapping[str, dict], classes: Sequence[str], decimals: int = 1) -> str:
    """Markdown table of EERs in %: rows = models (in `results` order), columns = `classes` then
    "overall". Each value of `results` is an `evaluate_scores` dict; a class the model was not
    evaluated on shows as "n/a"."""
    classes = list(classes)
    header = ["model", *classes, "overall"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(classes) + 1),
    ]
    for model, res in results.items():
        per_class = res.get("eer", {})
        cells = [_percent(per_class.get(c), decimals) for c in classes]
        cells.append(_percent(res.get("overall"), decimals))
        lines.append("| " + " | ".join([str(model), *cells]) + " |")
    return "\n".join(lines) + "\n"


def write_eer_report(
    results: Mapping[str, dict],
    out_dir: str | Path,
    classes: Sequence[str] | None = None,
    decimals: int = 1,
) -> dict[str, Path]:
    """Write `eer.json` (the `results` dicts as given, rates as fractions in [0, 1]) and `eer.md`
    (the percent table) into `out_dir`, atomically. `classes` defaults to the first model's class
    list. Returns {"json": path, "md": path}."""
    if not results:
        raise DataError(f"{out_dir}: no model results to report")
    if classes is None:
        classes = next(iter(results.values())).get("classes")
        if classes is None:
            raise DataError(f"{out_dir}: results carry no 'classes'; pass classes explicitly")
    out = Path(out_dir)
    paths = {"json": out / "eer.json", "md": out / "eer.md"}
    write_json(paths["json"], {str(k): v for k, v in results.items()})
    write_text(paths["md"], eer_table_markdown(results, classes, decimals))
    return paths
