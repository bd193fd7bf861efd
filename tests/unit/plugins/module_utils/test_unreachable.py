"""A transport failure names the cluster and the bound that actually fired (issue 22 item 3)."""
from __future__ import annotations

import time
import types

import pytest
import urllib3

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import CONNECT_TIMEOUT, Cluster, _bound_requests


def cluster(timeout=30):
    return Cluster("cluster2", timeout, types.SimpleNamespace(host="https://127.0.0.1:6443"))


def wrapped(cause):
    """As urllib3 raises it once its (zero) retries are spent."""
    return urllib3.exceptions.MaxRetryError(None, "/api", reason=cause)


def test_a_connect_timeout_states_the_connect_bound():
    error = cluster().unreachable(wrapped(urllib3.exceptions.ConnectTimeoutError(None, "connect timed out")),
                                  "GET /api")
    assert "cluster cluster2 (https://127.0.0.1:6443): GET /api: no answer to the connection within %ss" \
        % CONNECT_TIMEOUT in error.message
    assert error.details["unreachable"] is True


def test_a_read_timeout_states_the_requests_own_bound():
    timeout = urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out")
    assert "no answer within 30s" in cluster().unreachable(timeout).message
    # A watch reads for its window plus request_timeout: that is the bound it states.
    assert "no answer within 60s" in cluster().unreachable(timeout, "watching", read_timeout=60).message


def test_other_failures_say_what_happened():
    refused = wrapped(urllib3.exceptions.NewConnectionError(None, "Connection refused"))
    message = cluster().unreachable(refused, "GET /api").message
    assert "Connection refused" in message and "no answer" not in message


def test_a_request_with_its_own_bounds_states_them():
    """A watch connects within CONNECT_TIMEOUT even when request_timeout is shorter."""
    def refuse(method, url, *args, **kwargs):
        raise wrapped(urllib3.exceptions.ConnectTimeoutError(None, "connect timed out"))
    rest = types.SimpleNamespace(request=refuse)
    _bound_requests(rest, cluster(timeout=5))
    for bounds, said in ((None, "within 5s"), ((CONNECT_TIMEOUT, 65), "within %ss" % CONNECT_TIMEOUT)):
        with pytest.raises(GloomeshError) as raised:
            rest.request("GET", "https://127.0.0.1:6443/api?watch=1", _request_timeout=bounds)
        assert "GET /api: no answer to the connection " + said in raised.value.message


def test_the_error_returns_how_long_the_request_went_without_an_answer():
    """`unanswered_seconds`: what the stated bound can be checked against (tests/harness/faults.py)."""
    def silent(method, url, *args, **kwargs):
        time.sleep(0.3)
        raise wrapped(urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out"))
    rest = types.SimpleNamespace(request=silent)
    _bound_requests(rest, cluster())
    with pytest.raises(GloomeshError) as raised:
        rest.request("GET", "https://127.0.0.1:6443/api")
    assert 0.3 <= raised.value.details["unanswered_seconds"] < 1.3
    assert "unanswered_seconds" not in cluster().unreachable(wrapped(urllib3.exceptions.NewConnectionError(None, "refused"))).details
