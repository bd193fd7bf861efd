"""rotation: the plan of a root rotation run, from where every cluster stands."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import rotation

ALL = {"trust_both": True, "reissue": True, "drop_old": True, "promote": True}
NONE = dict((name, False) for name in ALL)


def state(phase, finished, to_expected=False, roots=("A",), issuer="A"):
    """A root_of_trust_info result, as much of it as the plan reads."""
    return {"root_fingerprints": list(roots), "issuing_root_fingerprint": issuer, "expected_root_fingerprint": "A",
            "rotation": {"phase": phase, "finished_phase": finished, "finished_to_expected": to_expected,
                         "new_root_fingerprint": "B"}}


def test_a_fresh_rotation_runs_every_phase_and_promotes():
    plan = rotation.plan([("c1", state(0, 0)), ("c2", state(0, 0))], False, "drop_old")
    assert plan == {"strays": [], "stray_message": "", "finished": False, "start": True, "next": 1, "until": 3,
                    "run": ALL}


def test_the_run_resumes_at_the_first_phase_a_cluster_has_not_finished_and_stops_at_until():
    plan = rotation.plan([("c1", state(2, 2)), ("c2", state(1, 1))], True, "reissue")
    assert (plan["next"], plan["until"]) == (2, 2)
    assert plan["run"] == dict(NONE, reissue=True)


@pytest.mark.parametrize("finished,expected", [
    (0, dict(NONE, trust_both=True)), (1, dict(NONE, reissue=True)), (2, dict(NONE, drop_old=True)),
    (3, dict(NONE, promote=True)),
])
def test_check_mode_predicts_the_next_phase_only(finished, expected):
    plan = rotation.plan([("c1", state(finished, finished))], True, "drop_old", check_mode=True)
    assert plan["run"] == expected


def test_a_finished_rotation_does_nothing_unless_again():
    states = [("c1", state(0, 0, to_expected=True)), ("c2", state(0, 0))]
    plan = rotation.plan(states, False, "drop_old")
    assert plan["finished"] and not plan["start"] and plan["run"] == NONE
    again = rotation.plan(states, False, "drop_old", again=True)
    assert again["finished"] and again["start"] and again["run"] == ALL
    # the new root is there: a next rotation is under way, not a finished one
    assert not rotation.plan(states, True, "drop_old")["finished"]


def test_promotion_only_when_the_run_goes_to_drop_old():
    assert not rotation.plan([("c1", state(0, 0))], False, "trust_both")["run"]["promote"]


def test_strays_are_named_with_what_their_cacerts_holds():
    plan = rotation.plan([("c1", state(0, 0)), ("c2", state(None, 0, roots=("Z",), issuer=None)),
                          ("c3", state(None, 0, roots=()))], True, "drop_old")
    assert plan["strays"] == ["c2", "c3"]
    assert plan["stray_message"] == (
        "c2: cacerts holds Z with an intermediate of none of them; c3: cacerts holds no root with an intermediate "
        "of A; the rotation goes from A (the controller's root) to B, and changes nothing in a cluster it does "
        "not know.")


def test_a_host_without_a_state_is_a_stray():
    assert rotation.plan([("c1", state(0, 0)), ("c2", None)], False, "drop_old")["strays"] == ["c2"]
