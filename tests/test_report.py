import json

import pytest

from raresound.errors import DataError
from raresound.evaluation.report import eer_table_markdown, write_eer_report

RESULTS = {
    "baseline": {"classes": ["dog", "gunshot"], "eer": {"dog": 0.125, "gunshot": 0.0625}, "overall": 0.09375},
    "proposed": {"classes": ["dog", "gunshot"], "eer": {"dog": 0.05, "gunshot": 0.0}, "overall": 0.025},
}


def test_markdown_layout_one_decimal():
    # 0.125 -> 12.5 %, 0.0625 -> 6.25 -> "6.2" (round half to even in formatting: 6.25 is exact
    # in binary and Python formats it as 6.2), 0.09375 -> 9.375 -> "9.4".
    expected = (
        "| model | dog | gunshot | overall |\n"
        "|---|---:|---:|---:|\n"
        "| baseline | 12.5 | 6.2 | 9.4 |\n"
        "| proposed | 5.0 | 0.0 | 2.5 |\n"
    )
    assert eer_table_markdown(RESULTS, ["dog", "gunshot"]) == expected


def test_markdown_two_decimals_and_missing_class():
    table = eer_table_markdown({"m": {"eer": {"dog": 0.1234}, "overall": 0.1234}}, ["dog", "baby"], decimals=2)
    assert table.splitlines()[2] == "| m | 12.34 | n/a | 12.34 |"


def test_write_eer_report(tmp_path):
    paths = write_eer_report(RESULTS, tmp_path / "out")
    assert paths == {"json": tmp_path / "out" / "eer.json", "md": tmp_path / "out" / "eer.md"}
    assert json.loads(paths["json"].read_text()) == RESULTS
    assert paths["md"].read_text() == eer_table_markdown(RESULTS, ["dog", "gunshot"])


def test_write_eer_report_rejects_empty(tmp_path):
    with pytest.raises(DataError, match="no model results"):
        write_eer_report({}, tmp_path)


def test_markdown_with_intervals_and_positives():
    res = {**RESULTS["baseline"], "ci_low": {"dog": 0.05, "gunshot": 0.0}, "ci_high": {"dog": 0.2, "gunshot": 0.125},
           "overall_ci_low": 0.05, "overall_ci_high": 0.15, "n_pos": {"dog": 48, "gunshot": 12},
           "n_neg": {"dog": 152, "gunshot": 188}, "bootstrap": {"n_boot": 1000, "seed": 0, "ci": 0.95}}
    lines = eer_table_markdown({"baseline": res}, ["dog", "gunshot"]).splitlines()
    assert lines[2] == "| clips | n+ = 48 | n+ = 12 | N = 200 |"
    assert lines[3] == "| baseline | 12.5 [5.0, 20.0] | 6.2 [0.0, 12.5] | 9.4 [5.0, 15.0] |"
    assert lines[5].startswith("EER in % [95 % bootstrap interval: 1000 resamples")
