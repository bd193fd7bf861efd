"""The behaviour tests call modules through tests/harness/module_runner.py on the module path (main(),
as a module process runs); users get the in-process path. This parity test runs the same calls both
ways and wants the same result, so what the behaviour tests prove holds for the in-process path too
(issue 21 item 5). GLOOMESH_TEST_MODULE_PATH=in_process runs the whole behaviour suite in process.
"""
from __future__ import annotations

import pytest

from tests.harness.module_runner import PATHS, run_module

CONTEXT = "cluster1"


# (module, args, check_mode): reads, check-mode changes with diffs, failures of each kind. PKI is
# replaced by a fresh directory.
CALLS = [
    ("root_of_trust_info", {"namespace": "no-such-namespace"}, False),
    ("eastwest_gateway_info", {"namespace": "no-such-namespace"}, False),
    ("mesh_info", {}, False),
    ("servicemeshcontroller", {"cluster": "c1", "version": "1.25.2", "wait": False}, True),
    ("eastwest_gateway", {"generate": True}, True),
    ("mesh_link", {"state": "absent", "peers": [{"cluster": "nobody"}]}, True),
    ("gateway_api_crds", {"policy": "skip"}, True),
    ("gloo_operator", {"helm": False, "wait": False}, True),
    ("root_of_trust", {"root_cert_path": "PKI/root-cert.pem", "root_key_path": "PKI/root-key.pem", "cluster": "c1",
                       "root_key_type": "ecdsa-p256", "intermediate_key_type": "ecdsa-p256"}, True),
    ("root_of_trust_info", {"context": "no-such-context"}, False),
    ("servicemeshcontroller", {"cluster": "c1", "version": "not-a-version", "wait": False}, True),
    ("eastwest_gateway_info", {"namespace": "x", "api_key": "gloomesh-parity-secret-9f"}, False),
]


# Made anew by each call: by the API server for each dry run, and the validity of a certificate
# issued now (a second apart on a loaded machine).
MADE_ANEW = ("uid", "creationTimestamp", "not_before", "not_after")


def comparable(value):
    """``value`` without what each call makes anew (module_runner gives both paths' warnings as text)."""
    if isinstance(value, dict):
        return dict((k, comparable(v)) for k, v in value.items() if k not in MADE_ANEW)
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


@pytest.mark.parametrize("name, args, check_mode", CALLS, ids=["%s-%d" % (c[0], i) for i, c in enumerate(CALLS)])
def test_in_process_gives_what_the_module_gives(kubeconfig, control_plane, tmp_path, name, args, check_mode):
    args = dict(((k, v.replace("PKI", str(tmp_path))) if isinstance(v, str) else (k, v)) for k, v in args.items())
    args = dict({"context": CONTEXT}, kubeconfig=kubeconfig, **args)
    results = dict((path, comparable(run_module(name, args, check_mode=check_mode, diff=True, path=path)))
                   for path in PATHS)
    assert results["in_process"] == results["module"], name
    assert "gloomesh-parity-secret-9f" not in str(results)
