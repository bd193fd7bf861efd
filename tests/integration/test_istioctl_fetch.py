"""istioctl_fetch against a local stand-in for Solo's buckets (no Kubernetes cluster needed).

The server on 127.0.0.1 serves tarballs built here in both layouts, holding a small `istioctl`
shell script that answers `version --remote=false` like the real binary, and counts requests.
"""
from __future__ import annotations

import hashlib
import os
import platform
import stat
import sys
import tarfile
import textwrap

import pytest

from tests.harness.module_runner import run_module
from tests.harness.playbook_run import run_playbook
from tests.harness.tarball_server import (
    TarballServer,
    istioctl_script,
    make_tarball,
    release_layout,
    root_layout,
)

KEY = "k3y-s3cr3t-9f2a"
MASK = "********"


def bucket_path(image, os_name="linux", arch="amd64", key=KEY):
    """Where Solo publishes istioctl for Istio <= 1.28."""
    return f"/istio-binaries-{key}/{image}/istioctl-{image}-{os_name}-{arch}.tar.gz"


def release_path(image, os_name="linux", arch="amd64"):
    """Where Solo publishes the distribution for Istio >= 1.29."""
    return f"/soloio-istio-binaries/release/{image}/istio-{image}-{os_name}-{arch}.tar.gz"


@pytest.fixture(scope="module")
def server():
    with TarballServer() as srv:
        for image in ("1.25.2-solo", "1.25.3-solo", "1.28.0-solo"):
            srv.files[bucket_path(image)] = root_layout(image)
        srv.files[release_path("1.29.0-solo")] = release_layout("1.29.0-solo")
        yield srv


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    # A CI proxy must not intercept requests to 127.0.0.1; the proxy test sets its own.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dest(tmp_path):
    return str(tmp_path / "home" / ".istioctl" / "bin")


def fetch(server, dest, version="1.25.2", check_mode=False, diff=False, **extra):
    args = {"version": version, "repo_key": KEY, "base_url": server.base_url, "dest": dest,
            "os": "linux", "arch": "amd64"}
    args.update(extra)
    args = {k: v for k, v in args.items() if v is not None}
    return run_module("istioctl_fetch", args, check_mode=check_mode, diff=diff)


def installed(dest):
    """What the installed binary says, and the files in dest (temp files would show up here)."""
    path = os.path.join(dest, "istioctl")
    with open(path, "rb") as fh:
        content = fh.read()
    return content, sorted(os.listdir(dest))


def assert_failed(result, *fragments):
    assert result.get("failed"), result
    for fragment in fragments:
        assert fragment in result["msg"], (fragment, result["msg"])


def test_install_then_rerun_makes_no_request(server, tmp_path, monkeypatch):
    # dest defaults to ~/.istioctl/bin; os/arch detected from uname like the procedure.
    home = tmp_path / "user"
    home.mkdir()
    os_name = {"Linux": "linux", "Darwin": "osx"}[platform.system()]
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    server.files[bucket_path("1.25.2-solo", os_name, arch)] = root_layout("1.25.2-solo")
    args = {"version": "1.25.2-solo", "repo_key": KEY, "base_url": server.base_url}
    monkeypatch.setenv("HOME", str(home))
    before = server.request_count()
    first = run_module("istioctl_fetch", args)
    after_first = server.request_count()
    second = run_module("istioctl_fetch", args)
    after_second = server.request_count()

    path = str(home / ".istioctl" / "bin" / "istioctl")
    assert first["changed"] is True, first
    assert first["path"] == path
    assert first["version"] == "1.25.2-solo"
    assert first["url"] == server.base_url + bucket_path("1.25.2-solo", os_name, arch).replace(KEY, MASK)
    assert "previous_version" not in first
    assert after_first - before == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert os.listdir(os.path.dirname(path)) == ["istioctl"]
    assert first["archive_sha256"] == hashlib.sha256(
        server.files[bucket_path("1.25.2-solo", os_name, arch)]).hexdigest()

    assert second["changed"] is False, second
    assert second["path"] == path and second["version"] == "1.25.2-solo"
    assert after_second == after_first, "re-run must not touch the network"
    assert "archive_sha256" not in second


def test_version_change_reinstalls_and_force_reinstalls(server, dest):
    assert fetch(server, dest, "1.25.2")["changed"] is True
    before = server.request_count()
    upgraded = fetch(server, dest, "1.25.3")
    assert upgraded["changed"] is True
    assert upgraded["previous_version"] == "1.25.2-solo"
    assert server.request_count() == before + 1
    assert installed(dest) == (istioctl_script("1.25.3-solo"), ["istioctl"])

    assert fetch(server, dest, "1.25.3")["changed"] is False
    forced = fetch(server, dest, "1.25.3", force=True)
    assert forced["changed"] is True and forced["previous_version"] == "1.25.3-solo"
    assert server.request_count() == before + 2


def test_unusable_existing_file_is_replaced(server, dest):
    os.makedirs(dest)
    with open(os.path.join(dest, "istioctl"), "w") as fh:
        fh.write("not a program\n")
    result = fetch(server, dest)
    assert result["changed"] is True
    assert result["previous_version"] is None
    assert installed(dest) == (istioctl_script("1.25.2-solo"), ["istioctl"])


def test_404_names_version_repo_key_and_url(server, dest):
    result = fetch(server, dest, "1.25.9")
    assert_failed(result, "istioctl 1.25.9-solo for linux/amd64 not found (HTTP 404)",
                  server.base_url + bucket_path("1.25.9-solo").replace(KEY, MASK),
                  "repo_key is the REPO_KEY Solo issued for Istio 1.25")
    assert result["status_code"] == 404
    assert KEY not in str(result)
    assert not os.path.exists(dest), "a folder created for a failed install is removed again"


def test_404_of_the_release_bucket_does_not_blame_the_repo_key(server, dest):
    result = fetch(server, dest, "1.29.7", repo_key=None)
    assert_failed(result, "not found (HTTP 404)", release_path("1.29.7-solo"),
                  "check that Solo published version 1.29.7-solo for linux/amd64")
    assert "repo_key" not in result["msg"]


def test_checksum_verified_and_mismatch_keeps_previous_binary(server, dest):
    good = hashlib.sha256(server.files[bucket_path("1.25.2-solo")]).hexdigest()
    ok = fetch(server, dest, checksum="sha256:" + good.upper())
    assert ok["changed"] is True and ok["archive_sha256"] == good
    previous = installed(dest)

    wanted = hashlib.sha256(b"something else").hexdigest()
    actual = hashlib.sha256(server.files[bucket_path("1.25.3-solo")]).hexdigest()
    result = fetch(server, dest, "1.25.3", checksum="sha256:" + wanted)
    assert_failed(result, "checksum mismatch", "expected sha256:" + wanted, "got sha256:" + actual)
    assert result["expected_checksum"] == "sha256:" + wanted
    assert result["actual_checksum"] == "sha256:" + actual
    assert installed(dest) == previous, "the previous binary stays, no temp file is left"


def test_checksum_mismatch_on_a_fresh_host_installs_nothing(server, dest):
    result = fetch(server, dest, checksum="sha256:" + "0" * 64)
    assert_failed(result, "checksum mismatch")
    assert not os.path.exists(dest)


SCRIPT = istioctl_script("1.25.2-solo")


@pytest.mark.parametrize("entries, message", [
    pytest.param([("../istioctl", SCRIPT), ("istioctl", SCRIPT)],
                 "'../istioctl' escapes the archive root", id="parent-traversal"),
    pytest.param([("istioctl", SCRIPT), ("bin/../../../etc/evil", b"x")],
                 "'bin/../../../etc/evil' escapes the archive root", id="traversal-in-other-member"),
    pytest.param([("/usr/local/bin/istioctl", SCRIPT)],
                 "'/usr/local/bin/istioctl' has an absolute path", id="absolute"),
    pytest.param([("istioctl", tarfile.SYMTYPE, "/bin/sh")],
                 "is a symbolic link to '/bin/sh'", id="symlink"),
    pytest.param([("real", SCRIPT), ("istioctl", tarfile.LNKTYPE, "real")],
                 "is a hard link to 'real'", id="hardlink"),
    pytest.param([("istioctl", tarfile.CHRTYPE, None)], "is a device", id="device"),
    pytest.param([("istioctl", tarfile.FIFOTYPE, None)], "is a FIFO", id="fifo"),
    pytest.param([("istioctl", tarfile.DIRTYPE, None)], "is a directory", id="directory"),
    pytest.param([("istioctl", SCRIPT), ("./istioctl", tarfile.SYMTYPE, "/bin/sh")],
                 "has 2 entries named 'istioctl'", id="duplicate"),
    pytest.param([("README.md", b"hello")],
                 "has no istioctl (looked for 'istioctl' and 'istio-1.25.6-solo/bin/istioctl')",
                 id="no-istioctl"),
])
def test_unsafe_or_incomplete_archives_are_refused(server, tmp_path, entries, message):
    dest = str(tmp_path / "bin")
    os.makedirs(dest)
    with open(os.path.join(dest, "istioctl"), "wb") as fh:
        fh.write(b"previous")
    server.files[bucket_path("1.25.6-solo")] = make_tarball(entries)
    result = fetch(server, dest, "1.25.6")
    assert_failed(result, message)
    assert sorted(os.listdir(dest)) == ["istioctl"]
    with open(os.path.join(dest, "istioctl"), "rb") as fh:
        assert fh.read() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["bin"], "nothing extracted outside dest"


def test_not_a_tarball_is_refused(server, dest):
    server.files[bucket_path("1.25.7-solo")] = b"<html>login required</html>"
    result = fetch(server, dest, "1.25.7")
    assert_failed(result, "is not a valid .tar.gz archive")
    assert not os.path.exists(dest)


@pytest.mark.parametrize("binary, message", [
    pytest.param(istioctl_script("1.25.1-solo"), "reports client version 1.25.1-solo, expected 1.25.8-solo",
                 id="other-version"),
    pytest.param(b"#!/bin/sh\nexit 3\n", "reports client version nothing (exit code 3), expected 1.25.8-solo",
                 id="no-version"),
    pytest.param(b"\x7fELF\x02\x01\x01" + b"\0" * 64, "does not run on this host", id="not-runnable"),
])
def test_binary_not_reporting_the_version_is_not_installed(server, dest, binary, message):
    server.files[bucket_path("1.25.8-solo")] = make_tarball([("istioctl", binary)])
    result = fetch(server, dest, "1.25.8")
    assert_failed(result, message)
    assert not os.path.exists(dest)


def test_check_mode_fetches_nothing(server, dest):
    before = server.request_count()
    fresh = fetch(server, dest, check_mode=True, diff=True)
    assert fresh["changed"] is True
    assert fresh["url"] == server.base_url + bucket_path("1.25.2-solo").replace(KEY, MASK)
    assert fresh["diff"] == {"before": {"path": fresh["path"], "version": None},
                             "after": {"path": fresh["path"], "version": "1.25.2-solo"}}
    assert not os.path.exists(dest)
    assert server.request_count() == before

    assert fetch(server, dest)["changed"] is True
    before = server.request_count()
    same = fetch(server, dest, check_mode=True)
    assert same["changed"] is False
    other = fetch(server, dest, "1.25.3", check_mode=True)
    assert other["changed"] is True and other["previous_version"] == "1.25.2-solo"
    assert server.request_count() == before
    assert installed(dest) == (istioctl_script("1.25.2-solo"), ["istioctl"])


def test_release_layout_from_1_29_needs_no_repo_key(server, dest):
    before = server.request_count()
    result = fetch(server, dest, "1.29.0-solo", repo_key=None)
    assert result["changed"] is True, result
    assert result["url"] == server.base_url + release_path("1.29.0-solo")
    assert server.requests[before:] == [("GET", release_path("1.29.0-solo"))]
    assert installed(dest) == (istioctl_script("1.29.0-solo"), ["istioctl"])
    assert fetch(server, dest, "1.29.0", repo_key=None)["changed"] is False
    assert server.request_count() == before + 1


def test_mirror_base_url_keeps_bucket_paths(server, dest):
    server.files["/mirror/gcs" + bucket_path("1.28.0-solo")] = root_layout("1.28.0-solo")
    before = server.request_count()
    result = fetch(server, dest, "1.28.0", base_url=server.base_url + "/mirror/gcs/")
    assert result["changed"] is True, result
    assert server.requests[before:] == [("GET", "/mirror/gcs" + bucket_path("1.28.0-solo"))]


def test_url_override_accepts_either_layout(server, dest):
    server.files["/custom/istioctl.tgz"] = release_layout("1.25.2-solo")
    result = fetch(server, dest, "1.25.2", repo_key=None, base_url=None,
                   url=server.base_url + "/custom/istioctl.tgz")
    assert result["changed"] is True, result
    assert result["url"] == server.base_url + "/custom/istioctl.tgz"
    assert installed(dest) == (istioctl_script("1.25.2-solo"), ["istioctl"])


def test_download_goes_through_the_configured_proxy(server, dest, monkeypatch):
    # Ansible's URL helpers honour http_proxy: the request line carries the absolute URL.
    monkeypatch.setenv("http_proxy", server.base_url)
    before = server.request_count()
    result = fetch(server, dest, base_url="http://storage.example.invalid")
    assert result["changed"] is True, result
    assert server.requests[before:] == [("GET", "http://storage.example.invalid" + bucket_path("1.25.2-solo"))]


@pytest.mark.parametrize("extra, message", [
    ({"version": "1.28.0", "repo_key": None}, "repo_key is required for Istio 1.28"),
    ({"version": "latest"}, "version: 'latest' is not an Istio version"),
    ({"checksum": "md5:abc"}, "checksum must be 'sha256:' followed by 64 hex digits"),
    ({"os": "windows"}, "value of os must be one of: linux, osx"),
    ({"arch": "x86_64"}, "value of arch must be one of: amd64, arm64, armv7"),
    ({"url": "http://127.0.0.1:1/x.tar.gz"}, "mutually exclusive: url|base_url"),
    ({"timeout": 0}, "timeout must be a positive number of seconds"),
    ({"base_url": "storage.example/gcs"}, "base_url must be an absolute URL"),
    ({"base_url": None, "url": "/tmp/istioctl.tar.gz"}, "url must be an absolute URL"),
])
def test_bad_input_is_rejected_before_any_request(server, dest, extra, message):
    before = server.request_count()
    args = {"version": "1.25.2"}
    args.update(extra)
    result = fetch(server, dest, **args)
    assert_failed(result, message)
    assert server.request_count() == before
    assert not os.path.exists(dest)


def test_through_ansible_playbook(server, tmp_path):
    dest = str(tmp_path / "bin")
    playbook = tmp_path / "fetch.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Install istioctl
              gloomesh.multicluster.istioctl_fetch:
                version: "{{ istio_version }}"
                repo_key: "{{ repo_key }}"
                base_url: "{{ base_url }}"
                dest: "{{ dest }}"
              register: first
            - name: Again
              gloomesh.multicluster.istioctl_fetch:
                version: "{{ istio_version }}-solo"
                repo_key: "{{ repo_key }}"
                base_url: "{{ base_url }}"
                dest: "{{ dest }}"
              register: second
            - name: Check
              ansible.builtin.assert:
                that:
                  - first is changed
                  - second is not changed
                  - first.path == dest ~ '/istioctl'
                  - first.version == '1.25.2-solo'
        """))
    inventory = {"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
    os_name = {"Linux": "linux", "Darwin": "osx"}[platform.system()]
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    server.files[bucket_path("1.25.2-solo", os_name, arch)] = root_layout("1.25.2-solo")
    before = server.request_count()
    run = run_playbook(playbook, inventory, {"istio_version": "1.25.2", "repo_key": KEY,
                                             "base_url": server.base_url, "dest": dest}, verbosity=1)
    assert run["rc"] == 0, run["stdout"] + run["stderr"]
    assert run["recap"]["localhost"]["changed"] == 1
    assert run["recap"]["localhost"]["failed"] == 0
    assert server.request_count() == before + 1
    assert KEY not in run["stdout"], "repo_key is no_log"
    assert installed(dest) == (istioctl_script("1.25.2-solo"), ["istioctl"])
