from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raresound.data.manifest import ClipRecord
from raresound.data.ratio import (
    allocate,
    assign_splits,
    check_ratio_classes,
    format_ratio,
    parse_classes,
    parse_ratio,
    split_by_source,
    subsample_to_ratio,
)
from raresound.errors import ConfigError, DataError

CLASSES = "dog,baby,gunshot,background"


def _recs(split, counts, prefix=""):
    out = []
    for cls, n in counts.items():
        for i in range(n):
            labels = () if cls == "background" else (cls,)
            out.append(ClipRecord(f"/d/{prefix}{split}-{cls}-{i}.wav", labels, split, f"{cls}-{i % 5}"))
    return out


def _count(recs, split):
    return Counter(r.labels[0] if r.labels else "background" for r in recs if r.split == split)


def test_parse_ratio():
    assert parse_ratio("6:1:2:16", CLASSES) == {"dog": 6, "baby": 1, "gunshot": 2, "background": 16}
    assert parse_ratio(" 2 : 2 : 1 : 26 ", CLASSES) == {"dog": 2, "baby": 2, "gunshot": 1, "background": 26}
    assert parse_ratio({"a": 1, "b": 3.0}) == {"a": 1, "b": 3}
    for bad, msg in [("6:1:2", "3 parts but there are 4 classes"), ("6:x:2:16", "'x' for class 'baby'"),
                     ("6:-1:2:16", "negative"), ("0:0:0:0", "no positive weight"), ("1.5:1:1:1", "whole number")]:
        with pytest.raises(ConfigError, match=msg) as info:
            parse_ratio(bad, CLASSES)
        assert "config field 'ratio'" in str(info.value)
    with pytest.raises(ConfigError, match="duplicate"):
        parse_classes("dog,dog")
    with pytest.raises(ConfigError, match="classes"):
        parse_classes("dog,,baby")


def test_named_ratio_keeps_the_users_order_with_background_last():
    got = parse_ratio(" background=16, dog = 6,baby=1,gunshot=2")
    assert list(got.items()) == [("dog", 6), ("baby", 1), ("gunshot", 2), ("background", 16)]
    assert format_ratio(got) == "dog=6 baby=1 gunshot=2 background=16"
    assert format_ratio({"dog": 1, "background": 12 / 7}) == "dog=1 background=1.71"
    # with classes given (any order), the names must be exactly those
    assert parse_ratio("dog=6,baby=1,gunshot=2,background=16", "baby,background,dog,gunshot") == got


@pytest.mark.parametrize("text, classes, message", [
    ("6:1:2:16", None, "'6:1:2:16' does not say which weight is which class; name them, "
                       "e.g. dog=6,baby=1,gunshot=2,background=16"),
    ("dog=6,cat=1,background=2", "dog,baby,background",
     "dog=6 cat=1 background=2: unknown cat; missing baby; the given classes are dog, baby, background"),
    ("dog=6,dog=1,background=1", None, "class 'dog' appears twice"),
    ("dog=6,baby,background=1", None, "expected CLASS=WEIGHT items"),
    ("dog=6,background=x", None, "weight 'x' for class 'background' is not a whole number"),
])
def test_ratio_errors_are_one_line(text, classes, message):
    with pytest.raises(ConfigError) as info:
        parse_ratio(text, classes, field="data.ratio")
    assert str(info.value).startswith("config field 'data.ratio': ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_check_ratio_classes_lists_the_stores_classes():
    check_ratio_classes({"baby": 1, "dog": 6, "background": 2}, ["dog", "baby", "background"])
    with pytest.raises(ConfigError, match=r"missing gunshot; the store's classes are baby, dog, gunshot, background"):
        check_ratio_classes(parse_ratio("dog=6,baby=1,background=2"), ["baby", "dog", "gunshot", "background"],
                            "data.ratio", where="the store's classes")


def test_allocate_is_exact_and_proportional():
    assert allocate(25, {"dog": 6, "baby": 1, "gunshot": 2, "background": 16}) == {
        "dog": 6, "baby": 1, "gunshot": 2, "background": 16}
    got = allocate(100, {"a": 1, "b": 1, "c": 1})
    assert sum(got.values()) == 100 and sorted(got.values()) == [33, 33, 34]


def test_subsample_exact_ratio_with_maximal_k():
    recs = (_recs("train", {"dog": 40, "baby": 9, "gunshot": 30, "background": 500})
            + _recs("val", {"dog": 13, "baby": 5, "gunshot": 4, "background": 100})
            + _recs("test", {"dog": 3, "baby": 3, "gunshot": 3, "background": 3, "glass": 2}))
    ratio = parse_ratio("6:1:2:16", CLASSES)
    out = subsample_to_ratio(recs, ratio, seed=1)
    # train: k = min(40//6, 9//1, 30//2, 500//16) = 6 ; val: k = min(2, 5, 2, 6) = 2
    assert _count(out, "train") == {"dog": 36, "baby": 6, "gunshot": 12, "background": 96}
    assert _count(out, "val") == {"dog": 12, "baby": 2, "gunshot": 4, "background": 32}
    assert [r for r in out if r.split == "test"] == [r for r in recs if r.split == "test"]  # untouched
    # Deterministic, input-order independent, and seed dependent.
    assert set(subsample_to_ratio(recs[::-1], ratio, seed=1)) == set(out)
    assert set(subsample_to_ratio(recs, ratio, seed=2)) != set(out)
    # A class outside the ratio ("glass") is dropped from subsampled splits.
    even = subsample_to_ratio(recs, {"dog": 1, "background": 1}, seed=1, splits=("test",))
    assert _count(even, "test") == {"dog": 3, "background": 3}


def test_subsample_errors():
    ratio = parse_ratio("6:1:2:16", CLASSES)
    recs = _recs("test", {"dog": 6, "baby": 1, "gunshot": 2, "background": 15})
    # names what is short, how many there are and how many the ratio needs
    with pytest.raises(DataError, match=r"split 'test' has too few clips for ratio dog=6 baby=1 gunshot=2 "
                                        r"background=16: background 15 \(need >= 16\)$"):
        subsample_to_ratio(recs, ratio, splits=("test",))
    multi = [ClipRecord("/m.wav", ("dog", "baby"), "train", "s")]
    with pytest.raises(DataError, match="/m.wav: clip has several labels"):
        subsample_to_ratio(multi, ratio)
    with pytest.raises(ConfigError, match="unknown split"):
        subsample_to_ratio(recs, ratio, splits=("dev",))


def test_split_by_source_fractions_and_small_cases():
    ids = [f"s{i}" for i in range(100)]
    split = split_by_source(ids, seed=0)
    assert Counter(split.values()) == {"train": 70, "val": 20, "test": 10}
    assert split_by_source(list(reversed(ids)), seed=0) == split  # input order does not matter
    assert split_by_source(ids, seed=1) != split
    assert sorted(split_by_source(["a", "b", "c"]).values()) == ["test", "train", "val"]
    assert set(split_by_source(["a", "b"], fractions=(1, 0, 0)).values()) == {"train"}
    with pytest.raises(ConfigError, match="fractions"):
        split_by_source(ids, fractions=(0.5, 0.2, 0.2))


def test_split_by_source_weights_by_clips():
    # One big source (50 clips) and 50 single-clip sources: shares are by clips, not sources.
    recs = [ClipRecord(f"/{i}", (), "train", "big") for i in range(50)]
    recs += [ClipRecord(f"/x{i}", (), "train", f"s{i}") for i in range(50)]
    split = split_by_source(recs, seed=3)
    clips = Counter(split[r.source_id] for r in recs)
    assert abs(clips["train"] - 70) <= 2 and abs(clips["val"] - 20) <= 2 and abs(clips["test"] - 10) <= 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["dog", "baby", "background"]), st.integers(0, 15)), min_size=1,
                max_size=80), st.integers(0, 2**31 - 1))
def test_assign_splits_never_shares_a_source(pairs, seed):
    recs = [ClipRecord(f"/c{i}", () if cls == "background" else (cls,), "train", f"{cls}{src}")
            for i, (cls, src) in enumerate(pairs)]
    out = assign_splits(recs, seed=seed)
    assert [r.path for r in out] == [r.path for r in recs]
    splits_of = defaultdict(set)
    for r in out:
        splits_of[r.source_id].add(r.split)
    assert all(len(s) == 1 for s in splits_of.values())
    # Stratified: a class with >= 3 sources reaches all three splits.
    for cls in ("dog", "baby", "background"):
        sources = {r.source_id for r in recs if (r.labels or ("background",))[0] == cls}
        if len(sources) >= 3:
            assert {r.split for r in out if r.source_id in sources} == {"train", "val", "test"}
