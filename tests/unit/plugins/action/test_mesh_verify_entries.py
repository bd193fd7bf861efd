"""mesh_verify reads each cluster's mesh_info result (a host's own, or a loop's, keyed by item) and
says which hosts of the play a failing verify fails."""
from __future__ import annotations

from ansible_collections.gloomesh.multicluster.plugins.action.mesh_verify import _entries, _failing_hosts

ARGS = {"hosts": ["c1", "c2", "c3", "c4"], "info_var": "verify_mesh_info", "link_to_var": "mesh_link_to"}


def hostvars(**registered):
    return {host: {"cluster_name": host, **({"verify_mesh_info": registered[host]} if host in registered else {})}
            for host in ARGS["hosts"]}


def by_host(entries):
    return {e["host"]: e.get("info", {}).get("name") or e["state"] for e in entries}


def test_a_limit_run_reads_the_clusters_outside_it_through_the_first_hosts_loop():
    # --limit c1,c2 with c3 failed earlier: c1 read itself and c4 (outside the run), c2 itself.
    task_vars = {"hostvars": hostvars(
        c1={"results": [{"item": "c1", "name": "c1"}, {"item": "c4", "name": "c4"}]},
        c2={"results": [{"item": "c2", "name": "c2"}]}),
        "ansible_play_hosts": ["c1", "c2"], "ansible_play_hosts_all": ["c1", "c2", "c3"]}
    assert by_host(_entries(ARGS, task_vars)) == {"c1": "c1", "c2": "c2", "c3": "failed earlier", "c4": "c4"}


def test_a_plain_registered_result_is_the_hosts_own_and_a_host_outside_the_play_unread_is_not_targeted():
    task_vars = {"hostvars": hostvars(c1={"name": "c1"}, c2={"skipped": True}),
                 "ansible_play_hosts": ["c1", "c2", "c3"], "ansible_play_hosts_all": ["c1", "c2", "c3"]}
    assert by_host(_entries(ARGS, task_vars)) == {"c1": "c1", "c2": "not read", "c3": "not read", "c4": "not targeted"}


def test_a_failed_read_is_kept_for_the_verdict():
    task_vars = {"hostvars": hostvars(c1={"results": [{"item": "c1", "failed": True, "unreachable": True, "msg": "x"}]}),
                 "ansible_play_hosts": ["c1"], "ansible_play_hosts_all": ["c1"]}
    entry = _entries(ARGS, task_vars)[0]
    assert entry["info"]["failed"] and entry["info"]["msg"] == "x"


def test_failing_hosts_skip_hosts_failed_already_and_give_the_outside_to_the_first_host():
    report = {"links": [], "clusters": [
        {"cluster": n, "host": n, "state": state, "problems": problems} for n, state, problems in (
            ("c1", "reachable", []), ("c2", "reachable", ["p2"]), ("c3", "failed earlier", ["p3"]),
            ("c4", "reachable", ["p4"]))]}
    task_vars = {"ansible_play_hosts": ["c1", "c2"], "ansible_play_hosts_all": ["c1", "c2", "c3"]}
    assert _failing_hosts(report, task_vars) == {"c1": ["c4: p4"], "c2": ["c2: p2"]}


def test_with_serial_a_batch_verifies_the_whole_mesh_from_its_own_fresh_reads():
    # Batch 2 of a serial play (c3, c4): c3 read itself, c1 and c2 (earlier batch) and c4 is its own;
    # c1 and c2 still hold their reads of batch 1, which must not count.
    stale = {"results": [{"item": host, "name": "stale"} for host in ARGS["hosts"]]}
    task_vars = {"hostvars": hostvars(
        c1=stale, c2=stale,
        c3={"results": [{"item": "c3", "name": "c3"}, {"item": "c1", "name": "c1"}, {"item": "c2", "name": "c2"}]},
        c4={"results": [{"item": "c4", "name": "c4"}]}),
        "ansible_play_hosts": ["c1", "c2", "c3", "c4"], "ansible_play_hosts_all": ["c1", "c2", "c3", "c4"],
        "ansible_play_batch": ["c3", "c4"]}
    assert by_host(_entries(ARGS, task_vars)) == {"c1": "c1", "c2": "c2", "c3": "c3", "c4": "c4"}
    report = {"links": [], "clusters": [{"cluster": n, "host": n, "state": "reachable", "problems": p}
                                        for n, p in (("c1", ["p1"]), ("c2", []), ("c3", []), ("c4", ["p4"]))]}
    assert _failing_hosts(report, task_vars) == {"c3": ["c1: p1"], "c4": ["c4: p4"]}
