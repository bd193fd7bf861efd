"""Unit tests for the Solo istioctl download rules (Solo's procedure, "Set up tools"): no network, no files."""
from __future__ import annotations

import pytest

from tests.harness.collection_path import install_collection_finder

install_collection_finder()

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import istioctl as dl  # noqa: E402
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError  # noqa: E402
from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation  # noqa: E402
from ansible_collections.gloomesh.multicluster.plugins.module_utils.validation import parse_istio_version  # noqa: E402

V125 = parse_istio_version("1.25.2")
V128 = parse_istio_version("1.28.9-solo")
V129 = parse_istio_version("1.29.0")


@pytest.mark.parametrize("uname, expected", [
    ("Linux", "linux"), ("linux", "linux"), ("Darwin", "osx"), ("darwin", "osx"),
])
def test_detect_os_maps_uname_like_the_procedure(uname, expected):
    assert dl.detect_os(uname) == expected


@pytest.mark.parametrize("machine, expected", [
    ("x86_64", "amd64"), ("aarch64", "arm64"), ("armv7l", "armv7"),
    ("arm64", "arm64"),  # macOS on Apple silicon
    ("amd64", "amd64"),  # FreeBSD / Windows spelling
])
def test_detect_arch_maps_uname_m_like_the_procedure(machine, expected):
    assert dl.detect_arch(machine) == expected


@pytest.mark.parametrize("system", ["Windows", "FreeBSD", "", None])
def test_unsupported_os_lists_allowed_values(system):
    with pytest.raises(GloomeshError) as err:
        dl.detect_os(system)
    assert "linux, osx" in err.value.message
    assert "set os" in err.value.message
    assert err.value.details["allowed"] == ["linux", "osx"]


@pytest.mark.parametrize("machine", ["ppc64le", "s390x", "i686", "riscv64"])
def test_unsupported_arch_lists_allowed_values(machine):
    with pytest.raises(GloomeshError) as err:
        dl.detect_arch(machine)
    assert repr(machine) in err.value.message
    assert "amd64, arm64, armv7" in err.value.message
    assert err.value.details["option"] == "arch"


def test_url_up_to_1_28_uses_the_repo_key_bucket():
    assert dl.build_url(V125, "linux", "amd64", repo_key="abc123") == (
        "https://storage.googleapis.com/istio-binaries-abc123/1.25.2-solo/"
        "istioctl-1.25.2-solo-linux-amd64.tar.gz")
    assert dl.build_url(V128, "osx", "arm64", repo_key="k") == (
        "https://storage.googleapis.com/istio-binaries-k/1.28.9-solo/istioctl-1.28.9-solo-osx-arm64.tar.gz")


def test_url_from_1_29_uses_the_release_bucket_and_ignores_repo_key():
    expected = ("https://storage.googleapis.com/soloio-istio-binaries/release/1.29.0-solo/"
                "istio-1.29.0-solo-linux-armv7.tar.gz")
    assert dl.build_url(V129, "linux", "armv7") == expected
    assert dl.build_url(V129, "linux", "armv7", repo_key="unused") == expected


def test_base_url_replaces_the_storage_host_and_keeps_the_bucket_path():
    assert dl.build_url(V125, "linux", "amd64", "k", "https://mirror.example/gcs/") == (
        "https://mirror.example/gcs/istio-binaries-k/1.25.2-solo/istioctl-1.25.2-solo-linux-amd64.tar.gz")
    assert dl.build_url(V129, "linux", "amd64", None, "http://127.0.0.1:8080") == (
        "http://127.0.0.1:8080/soloio-istio-binaries/release/1.29.0-solo/istio-1.29.0-solo-linux-amd64.tar.gz")


@pytest.mark.parametrize("repo_key", [None, ""])
def test_missing_repo_key_up_to_1_28_is_a_clear_error(repo_key):
    with pytest.raises(GloomeshError) as err:
        dl.build_url(V128, "linux", "amd64", repo_key=repo_key)
    assert "repo_key is required for Istio 1.28" in err.value.message
    assert "url" in err.value.message
    assert err.value.details["option"] == "repo_key"


def test_layout_switches_at_1_29():
    assert not dl.uses_release_bucket(parse_istio_version("1.24.3"))
    assert not dl.uses_release_bucket(V128)
    assert dl.uses_release_bucket(V129)
    assert dl.uses_release_bucket(parse_istio_version("2.0.0"))


def test_binary_member_of_each_layout_comes_first():
    assert dl.binary_members(V125) == ("istioctl", "istio-1.25.2-solo/bin/istioctl")
    assert dl.binary_members(V129) == ("istio-1.29.0-solo/bin/istioctl", "istioctl")


@pytest.mark.parametrize("name, expected", [
    ("istioctl", "istioctl"), ("./istioctl", "istioctl"),
    ("istio-1.29.0-solo/bin/istioctl", "istio-1.29.0-solo/bin/istioctl"),
    ("istio-1.29.0-solo//bin/./istioctl", "istio-1.29.0-solo/bin/istioctl"),
    ("./", ""),
])
def test_member_path_normalises(name, expected):
    assert dl.member_path(name) == expected


@pytest.mark.parametrize("name", ["/usr/local/bin/istioctl", "../istioctl", "a/../../istioctl", "bin/.."])
def test_member_path_refuses_absolute_and_parent_paths(name):
    with pytest.raises(GloomeshError) as err:
        dl.member_path(name)
    assert "refusing the archive" in err.value.message
    assert err.value.details["member"] == name


@pytest.mark.parametrize("value", ["https://mirror.example/gcs", "http://127.0.0.1:8080", "ftp://files.example/x"])
def test_urls_with_a_known_scheme_and_host_pass(value):
    assert validation.url(value, "base_url") == value


@pytest.mark.parametrize("value", ["storage.example/gcs", "file:///srv/mirror", "https://", "", "gs://bucket"])
def test_other_urls_are_refused_naming_the_option(value):
    with pytest.raises(GloomeshError) as err:
        validation.url(value, "base_url")
    assert err.value.message.startswith("base_url must be an absolute URL starting with http:// or https:// or ftp://")
    assert err.value.details["option"] == "base_url"


def test_checksum_parsing():
    digest = "AB" * 32
    assert dl.parse_checksum("sha256:" + digest) == digest.lower()
    for bad in ("md5:" + "ab" * 16, "ab" * 32, "sha256:" + "ab" * 31, "sha256:" + "zz" * 32):
        with pytest.raises(GloomeshError) as err:
            dl.parse_checksum(bad)
        assert "checksum must be 'sha256:'" in err.value.message


@pytest.mark.parametrize("output, expected", [
    ("client version: 1.25.2-solo\n", "1.25.2-solo"),
    ("Client Version: 1.29.0-solo", "1.29.0-solo"),
    ("no running Istio pods\nclient version: 1.24.3-solo\n", "1.24.3-solo"),
    ("1.25.2-solo\n", None),
    ("", None),
])
def test_client_version_parsing(output, expected):
    assert dl.parse_client_version(output) == expected
