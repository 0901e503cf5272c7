"""Property tests of the checked loaders (dynamics/analysis/runtable.py, records): whatever the
bytes of norms.csv, config.json, summary.json or a record, the answer is a checked table
or a one-line RidgelineError — never another exception."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dynamics.analysis.runtable import FINITE_KEYS, read_config, read_norms, read_summary
from dynamics.util.errors import RidgelineError
from training.search.records import RecordStore

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LAYERS = ("conv1.weight", "conv2.weight", "bn1.weight")


def good_norms(steps=20) -> pd.DataFrame:
    rows = [dict(step=s, epoch=s // 10, layer=layer, shape="(4, 4)", scale_invariant=layer != "bn1.weight",
                 weight_norm=1.0 + 0.01 * s, grad_norm=0.5, angular_update=0.01, momentum_norm=0.1, lr=0.1)
            for s in range(1, steps + 1) for layer in LAYERS]
    return pd.DataFrame(rows)


def test_step_zero_needs_only_a_finite_weight_norm(tmp_path):
    """Step 0, the initial weights, has |w| and no measured step: kept in lenient mode
    unless its |w| is not finite."""
    start = good_norms(1).assign(step=0, grad_norm=math.nan, angular_update=math.nan, momentum_norm=math.nan)
    start.loc[2, "weight_norm"] = math.nan  # bn1.weight's initial |w| is lost
    path = tmp_path / "norms.csv"
    pd.concat([start, good_norms()]).to_csv(path, index=False)
    frame = read_norms(path, strict=False).frame
    assert sorted(frame[frame.step == 0].layer) == ["conv1.weight", "conv2.weight"]
    assert len(frame) == 2 + 60


def one_line(error: RidgelineError) -> bool:
    return len(str(error).splitlines()) == 1


def load_either(path, strict):
    """The table, or None after a one-line RidgelineError (anything else propagates)."""
    try:
        return read_norms(path, strict=strict)
    except RidgelineError as e:
        assert one_line(e), str(e)
        return None


@FAST
@given(data=st.binary(max_size=400), strict=st.booleans())
def test_random_bytes_as_norms_csv(tmp_path, data, strict):
    path = tmp_path / "norms.csv"
    path.write_bytes(data)
    table = load_either(path, strict)
    if table is not None and not strict:
        assert np.isfinite(table.frame[list(FINITE_KEYS)].to_numpy(float)).all()


@FAST
@given(cut=st.integers(0, 10_000), strict=st.booleans())
def test_truncated_norms_csv(tmp_path, cut, strict):
    path = tmp_path / "norms.csv"
    text = good_norms().to_csv(index=False)
    path.write_text(text[: cut % len(text)])
    table = load_either(path, strict)
    if table is not None:  # what was kept is whole rows of the original
        assert table.frame["step"].dtype.kind == "i" and not table.frame["layer"].isna().any()


@FAST
@given(cells=st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["weight_norm", "angular_update"]),
                                st.sampled_from([math.nan, math.inf, -math.inf])), min_size=1, max_size=30))
def test_non_finite_values_degrade_per_layer(tmp_path, cells):
    frame = good_norms()
    for row, column, value in cells:
        frame.loc[row, column] = value
    path = tmp_path / "norms.csv"
    frame.to_csv(path, index=False)
    bad_rows = {row for row, _, _ in cells}
    table = load_either(path, strict=False)
    assert table is not None  # 60 rows, at most 30 damaged: something is left
    assert len(table.frame) == len(frame) - len(bad_rows)
    assert np.isfinite(table.frame[list(FINITE_KEYS)].to_numpy(float)).all()
    assert table.notes  # each repair is reported
    untouched = set(LAYERS) - {frame.loc[r, "layer"] for r in bad_rows}
    for layer in untouched:  # other layers keep every row
        assert (table.frame["layer"] == layer).sum() == 20


@FAST
@given(cells=st.lists(st.tuples(st.integers(0, 59),
                                st.sampled_from(["step", "layer", "scale_invariant", "weight_norm", "lr"]),
                                st.one_of(st.text(max_size=8), st.floats(), st.booleans())),
                      min_size=1, max_size=10), strict=st.booleans())
def test_wrong_dtypes_in_norms_csv(tmp_path, cells, strict):
    frame = good_norms().astype(object)
    for row, column, value in cells:
        frame.loc[row, column] = value
    path = tmp_path / "norms.csv"
    frame.to_csv(path, index=False)
    table = load_either(path, strict)
    if table is not None and not strict:
        assert table.frame["step"].dtype.kind == "i"
        assert table.frame["scale_invariant"].dtype == bool


def test_duplicated_rows_are_kept_once_with_a_note(tmp_path):
    path = tmp_path / "norms.csv"
    frame = good_norms()
    pd.concat([frame, frame]).to_csv(path, index=False)
    table = read_norms(path, strict=False)
    assert len(table.frame) == len(frame) and "60 duplicated (step, layer) row(s) kept once" in table.notes
    with pytest.raises(RidgelineError, match="60 duplicated"):
        read_norms(path, strict=True)


def test_extra_and_optional_columns_are_kept(tmp_path):
    path = tmp_path / "norms.csv"
    frame = good_norms().assign(grad_sq=2.0).drop(columns=["momentum_norm"])
    frame.to_csv(path, index=False)
    table = read_norms(path, strict=True)
    assert "grad_sq" in table.frame.columns and table.notes == []


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=4),
                           max_leaves=12)


@FAST
@given(value=json_values, raw=st.one_of(st.none(), st.binary(max_size=60)))
def test_config_summary_and_records_from_any_json_or_bytes(tmp_path, value, raw):
    path = tmp_path / "f.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(value))
    for read in (read_config, read_summary):
        try:
            assert isinstance(read(path), dict)
        except RidgelineError as e:
            assert one_line(e)
    store = RecordStore(tmp_path)
    store.dir.mkdir(exist_ok=True)
    store.path("k").write_bytes(path.read_bytes())
    try:
        record = store.load("k")
        assert record["key"] == "k" and isinstance(record["params"], dict)
    except RidgelineError as e:
        assert one_line(e) and "delete it and rerun" in str(e)


def test_a_record_without_its_keys_is_one_line(tmp_path):
    store = RecordStore(tmp_path)
    store.dir.mkdir()
    store.path("abc").write_text('{"key": "abc", "score": 0.5}')
    with pytest.raises(RidgelineError, match=r"record .*abc.json lacks params, diverged; delete it and rerun"):
        store.load("abc")
