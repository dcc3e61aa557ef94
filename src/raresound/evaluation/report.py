"""EER tables: one row per model, one column per event class plus the overall (equal-weight mean)
EER, in percent, with bootstrap intervals and test positives where the results carry them
(`bootstrap.eer_intervals`); written as Markdown (for people) and JSON (for programs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from raresound.errors import DataError
from raresound.io import write_json, write_text

EER_JSON, EER_MD = "eer.json", "eer.md"  # the report's files in `out_dir`

MISSING = "n/a"


def _percent(value, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{100.0 * float(value):.{decimals}f}"


def _with_interval(value, low, high, decimals: int) -> str:
    text = _percent(value, decimals)
    if text == MISSING or low is None or high is None:
        return text
    return f"{text} [{_percent(low, decimals)}, {_percent(high, decimals)}]"


def _positives_row(results: Mapping[str, dict], classes: list[str]) -> str | None:
    """"n+ = 48" per class (and the clip count under overall); models scored on different test
    sets show every distinct count."""
    counted = [res for res in results.values() if "n_pos" in res]
    if not counted:
        return None

    def distinct(values) -> str:
        return "/".join(str(v) for v in dict.fromkeys(v for v in values if v is not None)) or MISSING

    cells = [f"n+ = {distinct(res['n_pos'].get(c) for res in counted)}" for c in classes]
    first = classes[0] if classes else None
    cells.append(f"N = {distinct(res['n_pos'].get(first, 0) + res['n_neg'].get(first, 0) for res in counted)}")
    return "| " + " | ".join(["clips", *cells]) + " |"


def _interval_note(results: Mapping[str, dict]) -> str | None:
    boot = next((res["bootstrap"] for res in results.values() if "bootstrap" in res), None)
    if boot is None:
        return None
    return (f"EER in % [{100 * boot['ci']:g} % bootstrap interval: {boot['n_boot']} resamples of the scored clips, "
            f"stratified by label, seed {boot['seed']}]; overall = equal-weight mean over classes; "
            f"n+ = positives, N = clips.")


def eer_table_markdown(results: Mapping[str, dict], classes: Sequence[str], decimals: int = 1) -> str:
    """Markdown table of EERs in %: rows = models (in `results` order), columns = `classes` then
    "overall". Each value of `results` is an `evaluate_scores` dict; a class the model was not
    evaluated on shows as "n/a". Results that also carry `eer_intervals` get "[low, high]" after
    each EER, a first row of test positives per class and a note on the intervals."""
    classes = list(classes)
    header = ["model", *classes, "overall"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(classes) + 1),
    ]
    positives = _positives_row(results, classes)
    if positives:
        lines.append(positives)
    for model, res in results.items():
        per_class, low, high = res.get("eer", {}), res.get("ci_low", {}), res.get("ci_high", {})
        cells = [_with_interval(per_class.get(c), low.get(c), high.get(c), decimals) for c in classes]
        cells.append(_with_interval(res.get("overall"), res.get("overall_ci_low"), res.get("overall_ci_high"), decimals))
        lines.append("| " + " | ".join([str(model), *cells]) + " |")
    note = _interval_note(results)
    return "\n".join(lines + (["", note] if note else [])) + "\n"


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
    paths = {"json": out / EER_JSON, "md": out / EER_MD}
    write_json(paths["json"], {str(k): v for k, v in results.items()})
    write_text(paths["md"], eer_table_markdown(results, classes, decimals))
    return paths
