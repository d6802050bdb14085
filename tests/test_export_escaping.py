"""Exports of a store whose names are hostile: tabs, newlines, quotes, formulas, repeated columns."""

from __future__ import annotations

import ast
import csv
import re

import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main
from latentlab.explore import export_parquet, export_projector

NAMES = ["a\tb", "c\nd", "=cmd|' /C calc'!A0", "id", "dup", "dup", "-1", "@x", "a b"]
IDS = ["=1+2", "@SUM(A1:A9)", "-3", "+cmd", "plain", "tab\there", "-2.5e3", "line\nbreak"]


@pytest.fixture
def hostile_store(tmp_path):
    rng = np.random.default_rng(1)
    n = len(IDS)
    attributes = np.where(rng.random((n, len(NAMES))) < 0.5, 1, -1).astype(np.int8)
    attributes[:, 0] = 1  # several +1 per row: attributes, not one label
    path = tmp_path / 'we"ird\\store.h5'
    write_store(path, rng.normal(size=(n, 3)), ids=IDS, attributes=attributes, attribute_names=NAMES)
    return path, attributes


def _expected_cell(text: str) -> str:
    # the documented rule, written out independently: one line, one column, formulas shown as text
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    try:
        float(text)
        number = True
    except ValueError:
        number = False
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not number else text


def test_projector_metadata_and_config_survive_hostile_names(hostile_store, tmp_path, capsys):
    path, attributes = hostile_store
    out = tmp_path / "proj"
    assert main(["export", str(path), "--projector", str(out)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert any("'dup' repeats" in w and "'dup_2'" in w for w in warnings), err
    assert any("'id' repeats" in w for w in warnings) and any("'a b' repeats" in w for w in warnings), err

    with open(out / "metadata.tsv", newline="", encoding="utf-8") as f:
        table = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(table) == 1 + len(IDS) and {len(r) for r in table} == {len(table[0])}
    header = table[0]
    assert len(set(header)) == len(header)
    assert header == ["row", "id", "a b", "c d", "'=cmd|' /C calc'!A0", "id_2", "dup", "dup_2", "-1", "'@x", "a b_2",
                      "radius"]
    assert [r[1] for r in table[1:]] == [_expected_cell(i) for i in IDS]
    assert [r[1] for r in table[1:]][:3] == ["'=1+2", "'@SUM(A1:A9)", "-3"]
    for k, row in enumerate(table[1:]):
        assert [int(v) for v in row[2:-1]] == attributes[k].tolist()  # "-1" values stay numbers
    for row in table:
        assert not any(cell[:1] in "=+@" for cell in row)

    config = (out / "projector_config.pbtxt").read_text()
    names = re.findall(r'^  tensor_name: "((?:[^"\\]|\\.)*)"$', config, flags=re.M)
    assert len(names) == 1 and ast.literal_eval(f'"{names[0]}"') == path.stem
    assert config.count("\n") == len(config.splitlines()) and "embeddings {" in config


def test_parquet_columns_are_unique_and_keep_every_attribute(hostile_store, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path, attributes = hostile_store
    result = export_parquet(path, tmp_path / "z.parquet")
    table = pq.read_table(tmp_path / "z.parquet")
    names = table.column_names
    assert len(set(names)) == len(names)
    assert names[:11] == ["row", "id", *["a\tb", "c\nd", "=cmd|' /C calc'!A0", "id_2", "dup", "dup_2", "-1", "@x",
                                         "a b"]]
    assert table.column("id").to_pylist() == IDS  # a binary format: the values as they are
    got = np.stack([table.column(c).to_numpy() for c in names[2:11]], axis=1)
    assert np.array_equal(got, attributes)
    assert any("'dup' repeats" in note for note in result["notes"])


def test_projector_api_reports_the_renames_in_its_notes(hostile_store, tmp_path):
    path, _ = hostile_store
    result = export_projector(path, tmp_path / "p")
    assert sum("repeats" in note for note in result["notes"]) == 3  # dup, id, and "a\tb" vs "a b" once escaped
