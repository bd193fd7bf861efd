from __future__ import annotations

import os
import stat

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.gloomesh.multicluster.plugins.plugin_utils.controller_action import write_report


def test_write_report_creates_the_folder_and_writes_atomically_readable(tmp_path):
    path = tmp_path / "reports" / "drift.json"
    write_report(str(path), "{}\n", "report_dir")
    assert path.read_text() == "{}\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["drift.json"]


def test_write_report_failure_names_the_option_and_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AnsibleActionFail) as err:
        write_report(str(blocker / "verify.json"), "{}\n", "report_path")
    assert str(err.value).startswith("report_path %s: cannot write the report: " % (blocker / "verify.json"))
