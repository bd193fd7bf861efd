# -*- coding: utf-8 -*-
# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What istioctl_fetch does: check the installed istioctl, download, verify, extract, install."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import os
import platform
import subprocess
import tarfile
import tempfile
import zlib
from http.client import HTTPException
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.istioctl import (
    binary_members,
    detect_arch,
    detect_os,
    member_path,
    parse_checksum,
    parse_client_version,
    resolve_url,
    uses_release_bucket,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation

BINARY_NAME = "istioctl"
_CHUNK = 1024 * 1024


def run(invocation):
    """Install the wanted Solo istioctl into dest; return the module result."""
    params = invocation.params
    version = validation.parse_istio_version(params["version"])
    if params["timeout"] <= 0:
        raise GloomeshError("timeout must be a positive number of seconds, got %s" % params["timeout"],
                            option="timeout")
    os_name = params["os"] or detect_os(platform.system())
    arch = params["arch"] or detect_arch(platform.machine())
    url = resolve_url(version, os_name, arch, params["repo_key"], params["base_url"], params["url"])
    expected_sha256 = parse_checksum(params["checksum"]) if params["checksum"] else None
    dest = params["dest"]
    path = os.path.join(dest, BINARY_NAME)
    timeout = params["timeout"]

    result = {"changed": False, "path": path, "version": version.solo, "url": url}
    exists = os.path.lexists(path)
    current = installed_version(path, timeout) if exists else None
    if current == version.solo and not params["force"]:
        return result

    result["changed"] = True
    if exists:
        result["previous_version"] = current
    if invocation.diff:
        result["diff"] = {"before": {"path": path, "version": current},
                          "after": {"path": path, "version": version.solo}}
    if invocation.check_mode:
        return result

    download = _Download(params, version, url, os_name, arch, timeout)
    result["archive_sha256"] = install(download, dest, path, version, expected_sha256, timeout)
    return result


def installed_version(path, timeout):
    """What `<path> version --remote=false` reports, or None when it does not run or say."""
    try:
        return _client_version(path, timeout)[0]
    except (OSError, subprocess.SubprocessError):
        return None


def _client_version(binary, timeout):
    """(reported version or None, exit code) of `<binary> version --remote=false`."""
    proc = subprocess.run([binary, "version", "--remote=false"], capture_output=True, text=True,
                          timeout=timeout, check=False)
    return (parse_client_version(proc.stdout) if proc.returncode == 0 else None), proc.returncode


def install(download, dest, path, version, expected_sha256, timeout):
    """Download, verify, extract and atomically install; on failure leave dest as it was.

    Temp files live in dest so the final rename stays on one file system (atomic), and
    folders created here are removed again when the install fails.
    """
    created = []
    archive_tmp = binary_tmp = None
    installed = False
    try:
        _make_dirs(dest, created)
        fd, archive_tmp = tempfile.mkstemp(dir=dest, prefix=".istioctl-", suffix=".tar.gz")
        with os.fdopen(fd, "wb") as archive:
            digest = download.into(archive)
        if expected_sha256 and digest != expected_sha256:
            raise GloomeshError(
                "checksum mismatch for %s: expected sha256:%s, got sha256:%s"
                % (download.url, expected_sha256, digest),
                url=download.url, expected_checksum="sha256:" + expected_sha256,
                actual_checksum="sha256:" + digest)
        binary_tmp = extract_binary(archive_tmp, binary_members(version), dest, download.url)
        os.chmod(binary_tmp, 0o755)
        _confirm_version(binary_tmp, version, download.url, timeout)
        os.replace(binary_tmp, path)
        binary_tmp = None
        installed = True
    except OSError as exc:
        raise GloomeshError("cannot install istioctl into %s: %s" % (dest, exc), path=path)
    finally:
        for leftover in (archive_tmp, binary_tmp):
            if leftover:
                _remove(leftover)
        if not installed:
            for folder in reversed(created):
                _rmdir(folder)
    return digest


class _Download:
    """One GET of the tarball through Ansible's URL helpers (proxy, certificates, auth options)."""

    def __init__(self, params, version, url, os_name, arch, timeout):
        self.params = params
        self.version = version
        self.url = url
        self.os_name = os_name
        self.arch = arch
        self.timeout = timeout

    def into(self, out):
        """Stream the tarball into the open file out; return its sha256 hex digest."""
        params = self.params
        try:
            # decompress=False: the checksum is over the .tar.gz exactly as published.
            response = open_url(
                self.url, timeout=self.timeout, decompress=False,
                validate_certs=params["validate_certs"], use_proxy=params["use_proxy"],
                url_username=params["url_username"], url_password=params["url_password"],
                force_basic_auth=params["force_basic_auth"], http_agent=params["http_agent"],
                client_cert=params["client_cert"], client_key=params["client_key"],
                use_gssapi=params["use_gssapi"])
        except HTTPError as exc:
            raise self._http_error(exc.code, exc.reason)
        except (URLError, SSLValidationError, OSError, HTTPException) as exc:
            raise self._http_error(-1, getattr(exc, "reason", None) or exc)
        digest = hashlib.sha256()
        try:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
            out.flush()
        except (OSError, HTTPException) as exc:
            raise GloomeshError("downloading %s failed: %s" % (self.url, exc), url=self.url)
        finally:
            response.close()
        return digest.hexdigest()

    def _http_error(self, status, reason):
        what = "istioctl %s for %s/%s" % (self.version.solo, self.os_name, self.arch)
        if status == 404:
            if self.params["url"]:
                hint = "check the url option"
            elif uses_release_bucket(self.version):
                hint = "check that Solo published version %s for %s/%s" % (
                    self.version.solo, self.os_name, self.arch)
            else:
                hint = ("check that version %s exists and that repo_key is the REPO_KEY Solo "
                        "issued for Istio %d.%d (one key per minor version)"
                        % (self.version.solo, self.version.major, self.version.minor))
            message = "%s not found (HTTP 404) at %s: %s" % (what, self.url, hint)
        elif status == -1:
            message = "downloading %s from %s failed: %s" % (what, self.url, reason)
        else:
            message = "downloading %s from %s failed: HTTP %s %s" % (what, self.url, status, reason)
        return GloomeshError(message, url=self.url, status_code=status)


def extract_binary(archive, members, folder, url):
    """Copy the one istioctl member of archive into a new temp file in folder; return its path.

    Only a regular file is taken. Any member with an absolute path or `..` refuses the whole
    archive (a published release never has one), so does a link, device or duplicate istioctl.
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            found = {}
            for entry in tar:
                name = member_path(entry.name)
                if name in members:
                    found.setdefault(name, []).append(entry)
            wanted = next((m for m in members if m in found), None)
            if wanted is None:
                raise GloomeshError(
                    "the archive from %s has no istioctl (looked for %s)"
                    % (url, " and ".join(repr(m) for m in members)), url=url)
            entries = found[wanted]
            if len(entries) > 1:
                raise GloomeshError("the archive from %s has %d entries named %r; refusing it"
                                    % (url, len(entries), wanted), url=url)
            entry = entries[0]
            if not entry.isreg():
                raise GloomeshError("archive member %r from %s is %s, not a regular file; refusing it"
                                    % (entry.name, url, _kind(entry)), url=url, member=entry.name)
            source = tar.extractfile(entry)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".istioctl-")
            try:
                with os.fdopen(fd, "wb") as out:
                    while True:
                        chunk = source.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            except BaseException:
                _remove(tmp)
                raise
            return tmp
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise GloomeshError("the file from %s is not a valid .tar.gz archive: %s" % (url, exc), url=url)


def _confirm_version(binary, version, url, timeout):
    try:
        reported, code = _client_version(binary, timeout)
    except OSError as exc:
        raise GloomeshError("the istioctl from %s does not run on this host (%s); check os and arch"
                            % (url, exc), url=url)
    except subprocess.TimeoutExpired:
        raise GloomeshError("the istioctl from %s did not answer 'version --remote=false' within %ss"
                            % (url, timeout), url=url)
    if reported != version.solo:
        raise GloomeshError(
            "the istioctl from %s reports client version %s, expected %s; nothing was installed"
            % (url, reported or "nothing (exit code %s)" % code, version.solo),
            url=url, reported_version=reported)


def _kind(entry):
    if entry.issym():
        return "a symbolic link to %r" % entry.linkname
    if entry.islnk():
        return "a hard link to %r" % entry.linkname
    if entry.isdir():
        return "a directory"
    if entry.ischr() or entry.isblk():
        return "a device"
    if entry.isfifo():
        return "a FIFO"
    return "a special entry"


def _make_dirs(folder, created):
    """Create folder and missing parents, appending each one created to created (outermost first)."""
    missing = []
    current = folder
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    missing.reverse()
    for each in missing:
        os.mkdir(each)
        created.append(each)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rmdir(path):
    try:
        os.rmdir(path)
    except OSError:
        pass  # no longer empty: someone else put something there
