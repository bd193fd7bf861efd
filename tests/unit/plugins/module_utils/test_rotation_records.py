"""Unit tests for a root rotation's phases and in-cluster record (builders/rotation_records.py)."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import rotation_records


@pytest.mark.parametrize("roots,issuer,phase", [
    (["A"], "A", 0), (["A", "B"], "A", 1), (["B", "A"], "A", 1), (["A", "B"], "B", 2), (["B"], "B", 3),
    (["A"], None, None), (["C"], "C", None), (["A", "B"], "C", None), (["A", "B", "C"], "A", None), (["B"], "A", None),
])
def test_content_phase(roots, issuer, phase):
    assert rotation_records.content_phase(roots, issuer, "A", "B") == phase


def test_rotation_record_round_trip():
    record = rotation_records.rotation_record("istio-system", "A", "B", 2, {"app.kubernetes.io/managed-by": "x"})
    assert record["metadata"]["name"] == rotation_records.RECORD_NAME
    assert record["data"] == {"previous-root": "A", "new-root": "B", "phase": "2"}
    parsed = rotation_records.parse_rotation_record(record)
    assert parsed == {"previous_root": "A", "new_root": "B", "phase": 2}
    assert rotation_records.finished_phase(parsed, "A", "B") == 2
    assert rotation_records.finished_phase(parsed, "B", "C") == 0 and rotation_records.finished_phase(None, "A", "B") == 0
    for data in ({}, {"previous-root": "A", "new-root": "B", "phase": "x"}, {"previous-root": "A", "new-root": "B", "phase": "7"},
                 {"new-root": "B", "phase": "1"}):
        assert rotation_records.parse_rotation_record({"data": data}) is None
    assert rotation_records.parse_rotation_record(None) is None


def test_cacerts_digest_is_stable_and_public():
    digest = rotation_records.cacerts_digest(["A", "B"], "I")
    assert digest == rotation_records.cacerts_digest(["A", "B"], "I") and len(digest) == 16
    assert digest != rotation_records.cacerts_digest(["A"], "I") != rotation_records.cacerts_digest(["A", "B"], None)


def _cluster(roots, issuer, record=None):
    return {"roots": roots, "issuer": issuer, "record": record}


def test_mesh_rotation_phases():
    steady = rotation_records.mesh_rotation_phases({"c1": _cluster(["A"], "A"), "c2": _cluster(["A"], "A")})
    assert steady == {"old": None, "new": None, "phases": {"c1": 0, "c2": 0}, "problems": {}}

    under_way = rotation_records.mesh_rotation_phases({
        "c1": _cluster(["A", "B"], "B"), "c2": _cluster(["A", "B"], "A"), "c3": _cluster(["A", "B"], "A")})
    assert under_way["phases"] == {"c1": 2, "c2": 1, "c3": 1} and under_way["problems"] == {}
    assert (under_way["old"], under_way["new"]) == ("A", "B")

    apart = rotation_records.mesh_rotation_phases({
        "c1": _cluster(["B"], "B", {"previous_root": "A", "new_root": "B", "phase": 3}),
        "c2": _cluster(["A", "B"], "A"), "c3": _cluster(["A", "B"], "B")})
    assert apart["phases"] == {"c1": 3, "c2": 1, "c3": 2}
    assert apart["problems"] == {
        "c1": ["root rotation phase 3 (old root dropped) here, 1 in c2: more than one phase apart, "
               "their workloads do not trust each other"],
        "c2": ["root rotation phase 1 (both roots trusted) here, 3 in c1: more than one phase apart, "
               "their workloads do not trust each other"]}

    naive = rotation_records.mesh_rotation_phases({
        "c1": _cluster(["B"], "B", {"previous_root": "A", "new_root": "B", "phase": 1}),
        "c2": _cluster(["A"], "A")})
    assert naive["phases"] == {"c1": 3, "c2": 0} and sorted(naive["problems"]) == ["c1", "c2"]

    # A finished rotation (A -> B) and the next one (B -> C) under way: the records of the past don't count.
    next_one = rotation_records.mesh_rotation_phases({
        "c1": _cluster(["B", "C"], "B", {"previous_root": "A", "new_root": "B", "phase": 3}),
        "c2": _cluster(["B"], "B", {"previous_root": "A", "new_root": "B", "phase": 3})})
    assert (next_one["old"], next_one["new"]) == ("B", "C") and next_one["phases"] == {"c1": 1, "c2": 0}
    assert next_one["problems"] == {}

    finished = rotation_records.mesh_rotation_phases({
        "c1": _cluster(["B"], "B", {"previous_root": "A", "new_root": "B", "phase": 3}), "c2": _cluster(["B"], "B")})
    assert finished["phases"] == {"c1": 3, "c2": 3} and finished["problems"] == {}

    stray = rotation_records.mesh_rotation_phases({"c1": _cluster(["A", "B"], "A"), "c2": _cluster(["Z"], "Z")})
    assert stray["phases"] == {"c1": 1, "c2": None}
    assert stray["problems"] == {"c2": ["cacerts (roots Z) is no step of the rotation from A to B"]}

    two = rotation_records.mesh_rotation_phases({"c1": _cluster(["A", "B"], "A"), "c2": _cluster(["A", "C"], "A")})
    assert two["phases"] == {"c1": None, "c2": None}
    assert two["problems"]["c1"] == ["the clusters are in more than one root rotation at once: A to B; A to C"]
