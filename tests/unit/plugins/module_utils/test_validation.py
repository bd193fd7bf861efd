"""validation.py: Istio version parsing, the multicluster rules, the root of trust's files."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.validation import (
    IstioVersion, check_multicluster_version, multicluster_version_problem, parse_istio_version, root_of_trust)


@pytest.mark.parametrize("text, expected", [
    ("1.25.2", (1, 25, 2)), ("1.25.2-solo", (1, 25, 2)), (" 1.24.3 ", (1, 24, 3)), ("1.30.10-solo", (1, 30, 10)),
])
def test_parse(text, expected):
    version = parse_istio_version(text)
    assert tuple(version) == expected
    assert str(version) == "%d.%d.%d" % expected
    assert version.solo == str(version) + "-solo"


@pytest.mark.parametrize("garbage", ["", None, "1.25", "v1.25.2", "1.25.2-fips", "1.25.x", "latest", "1.25.2-solo-solo"])
def test_parse_rejects_garbage_naming_the_option(garbage):
    with pytest.raises(GloomeshError) as err:
        parse_istio_version(garbage, option="istio_version")
    assert err.value.message.startswith("istio_version: ")
    assert "1.25.2-solo" in err.value.message
    assert err.value.details == {"option": "istio_version"}


@pytest.mark.parametrize("ok", ["1.24.3", "1.24.3-solo", "1.24.10", "1.25.0", "1.26.2", "1.27.1", "2.0.0"])
def test_multicluster_allowed(ok):
    assert multicluster_version_problem(ok) is None
    assert isinstance(check_multicluster_version(ok), IstioVersion)


@pytest.mark.parametrize("bad, words", [
    ("1.24.2", "requires Istio 1.24.3 or later, except 1.26.0 and 1.26.1; got 1.24.2"),
    ("1.23.9-solo", "got 1.23.9"),
    ("1.26.0", "Istio 1.26.0 is refused for multicluster"),
    ("1.26.1-solo", "Istio 1.26.1 is refused for multicluster"),
])
def test_multicluster_refused(bad, words):
    problem = multicluster_version_problem(bad)
    assert problem.startswith("version: ") and words in problem
    with pytest.raises(GloomeshError) as err:
        check_multicluster_version(bad, option="version")
    assert err.value.message == problem


def test_comparison_is_numeric_not_textual():
    assert parse_istio_version("1.100.0") > parse_istio_version("1.24.3")
    assert multicluster_version_problem("1.9.9") is not None


@pytest.mark.parametrize("option", ["root_cert_path", "root_key_path", "new_root_cert_path", "new_root_key_path"])
def test_root_file_that_is_a_directory_is_said_to_be_one(tmp_path, option):
    params = {"root_validity_days": 1, "intermediate_validity_days": 10, "renew_before": 1, "rotation_phase": None,
              "state": "present", "intermediate_cert": None, "cluster": "c1",
              "root_cert_path": str(tmp_path / "root-cert.pem"), "root_key_path": str(tmp_path / "root-key.pem"),
              "new_root_cert_path": None, "new_root_key_path": None, option: str(tmp_path)}
    with pytest.raises(GloomeshError, match="%s '%s' is a directory; give the path of a PEM file" % (option, tmp_path)):
        root_of_trust(params)
