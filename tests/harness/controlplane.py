"""Real local Kubernetes clusters for tests: one etcd and one kube-apiserver per cluster.

Binaries follow controller-runtime envtest's convention: the folder named by
KUBEBUILDER_ASSETS when set, else the one ``make assets`` (hack/build-control-plane.sh) builds
from the Go modules pinned in hack/assets/go.mod, under ``$GLOOMESH_CACHE/assets/<pins>``
(default ``~/.cache/gloomesh``). That folder also holds the helm the tests run.

Every cluster shares the etcd under its own ``--etcd-prefix``, listens on 127.0.0.1 only and
writes an audit log, so tests can count the write requests the collection (user ``admin``)
sent to one cluster. Simulators authenticate as ``gloomesh-simulator`` and are not counted.
There is no controller-manager, scheduler or kubelet: no garbage collection, namespaces stay
Terminating, and pods exist only when a simulator creates them.

Fault controls, per cluster (context), for tests of hung and dead clusters:

- ``freeze(context)`` stops the kube-apiserver (SIGSTOP): connections are accepted by the kernel
  but nothing answers, as with a hung server; ``thaw(context)`` resumes it (SIGCONT).
- ``kill(context)`` kills it (SIGKILL): connections are refused.
- ``restart(context)`` starts it again (after killing it if it runs) on the same port with the
  same certificates and etcd data, so kubeconfigs stay valid and a re-run converges.

``stop()`` thaws before it terminates, and API servers get SIGKILL when the thread that started
them ends, so no stopped or stray process outlives a test run.
"""
from __future__ import annotations

import atexit
import base64
import concurrent.futures
import contextlib
import ctypes
import datetime
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ADMIN_USER = "admin"
SIMULATOR_USER = "gloomesh-simulator"
MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
DEFAULT_NAMES = ("cluster1", "cluster2", "mgmt")
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
# Istio 1.24 supports Kubernetes 1.28 to 1.31 (istio.io/latest/docs/releases/supported-releases).
MIN_KUBERNETES = (1, 28)
_SYNC_PARAM = "gloomesh-audit-sync"
# API servers that start at the same time (start()): more only contend for the cores.
STARTING_AT_ONCE = max(4, 2 * (os.cpu_count() or 1))
_BIND_ERRORS = ("address already in use", "bind: address")

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    # One line per request (ResponseComplete; ResponseStarted for watches) keeps the log small.
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


class ControlPlaneError(RuntimeError):
    """The local control plane cannot start or answer."""


def cache_dir() -> str:
    return os.environ.get("GLOOMESH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gloomesh")


def find_assets(assets: str | None = None) -> str:
    """Folder with executable kube-apiserver and etcd, or a ControlPlaneError saying how to get them."""
    folder = assets or os.environ.get("KUBEBUILDER_ASSETS") or _built_assets()
    missing = [b for b in ("kube-apiserver", "etcd") if not os.access(os.path.join(folder, b), os.X_OK)]
    if missing:
        raise ControlPlaneError(
            f"no executable {' and '.join(missing)} in {folder}: run `make assets` "
            "(hack/build-control-plane.sh builds them once from Go modules into ~/.cache/gloomesh/assets), "
            "or set KUBEBUILDER_ASSETS to a folder holding kube-apiserver and etcd")
    return folder


def _built_assets() -> str:
    """The folder the build script names for the pinned versions (it builds nothing with --locate)."""
    from .collection_path import REPO_ROOT

    script = os.path.join(REPO_ROOT, "hack", "build-control-plane.sh")
    out = subprocess.run(["bash", script, "--locate"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ControlPlaneError(out.stderr.strip() or f"{script} --locate exited with {out.returncode}")
    return out.stdout.strip()


def helm_binary() -> str:
    """The real helm built with the control plane (or on PATH beside KUBEBUILDER_ASSETS' binaries)."""
    path = os.path.join(find_assets(), "helm")
    found = path if os.access(path, os.X_OK) else shutil.which("helm")
    if not found:
        raise ControlPlaneError(f"no helm in {os.path.dirname(path)} nor on PATH: run `make assets`")
    return found


def binary_version(path: str) -> tuple[int, int]:
    """(major, minor) printed by `kube-apiserver --version` ("Kubernetes v1.36.3")."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"v(\d+)\.(\d+)", out)
    if not match:
        raise ControlPlaneError(f"cannot read the version of {path}: {out!r}")
    return int(match.group(1)), int(match.group(2))


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, ..."""
    with open("/proc/%d/stat" % pid, encoding="utf-8") as fh:
        return fh.read().rsplit(")", 1)[1].split()


def process_state(pid: int) -> str:
    """The kernel's one-letter state of a process (R running, S sleeping, T stopped, ...)."""
    return stat_fields(pid)[0]


def _wait_stopped(pid: int, timeout: float, context: str):
    """Polls the process's state until it is T (stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        state = process_state(pid)
        if state in ("T", "t"):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the kube-apiserver of %s (pid %d) was not stopped %.0fs after SIGSTOP (state %s)"
                               % (context, pid, timeout, state))
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent(sig: int):
    """PR_SET_PDEATHSIG: the server gets `sig` if the test process is killed outright."""
    def set_signal() -> None:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)
    return set_signal


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject_cn, public_key, issuer_cn, signing_key, ca, sans=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


# Loopback is never proxied, whatever http_proxy says or a global urllib opener holds.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Process:
    """One server process whose command line depends on ports chosen at (re)start."""

    def __init__(self, name, log_path, argv_for_ports, port_count, death_signal=signal.SIGTERM):
        self.name = name
        self.log_path = log_path
        self._argv_for_ports = argv_for_ports
        self._port_count = port_count
        self._death_signal = death_signal
        self.ports: list[int] = []
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.frozen = False
        self.killed = False  # on purpose (kill()): its exit is not reported as a crash
        self.pinned = False  # restarted on its old ports: never moved to new ones

    def spawn(self, ports=None):
        self.ports = list(ports) if ports else [free_port() for _index in range(self._port_count)]
        self.frozen = self.killed = False
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self._argv_for_ports(self.ports), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent(self._death_signal))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int):
        if not self.running():
            raise ControlPlaneError(f"{self.name}: no running process to send {signal.Signals(sig).name} to")
        self.proc.send_signal(sig)

    def log_tail(self, lines=25) -> str:
        return _tail(self.log_path, lines)

    def respawn_after_port_race(self) -> bool:
        """Another process took a port between free_port() and bind(): try new ports (twice at most)."""
        tail = self.log_tail(50).lower()
        if self.pinned or self.restarts >= 2 or not any(marker in tail for marker in _BIND_ERRORS):
            return False
        self.restarts += 1
        self.spawn()
        return True

    def stop(self, timeout=10.0):
        if not self.running():
            return
        if self.frozen:  # a stopped process would keep SIGTERM pending forever
            self.proc.send_signal(signal.SIGCONT)
            self.frozen = False
        terminate(self.proc, timeout)


class LocalControlPlane:
    """etcd + one kube-apiserver per cluster name, on 127.0.0.1, with a kubeconfig per user."""

    def __init__(self, names=DEFAULT_NAMES, workdir=None, assets=None, apiserver_args=()):
        """apiserver_args: extra kube-apiserver flags for every cluster (e.g. --watch-cache=false)."""
        if not names or len(set(names)) != len(names):
            raise ValueError(f"cluster names must be unique and non-empty, got {names!r}")
        self.names = tuple(names)
        self._apiserver_args = list(apiserver_args)
        self._assets = assets
        self._own_workdir = workdir is None
        self.workdir = workdir
        self._tokens = {ADMIN_USER: secrets.token_hex(16), SIMULATOR_USER: secrets.token_hex(16)}
        self._etcd: _Process | None = None
        self._servers: dict[str, _Process] = {}
        self._ca_pem = b""
        self.kubeconfig_path = ""
        self.simulator_kubeconfig_path = ""
        self.startup_seconds = 0.0
        self.simulators = None  # set by callers that run controller simulators against us
        self.istiods = None  # the IstiodFleet of tests/harness/istiod.py playing istiod here, if any
        self.stop_hooks: list = []  # called first by stop(), newest first (e.g. the istiods of tests/harness/istiod.py)

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=180.0):
        """Start etcd, then every API server in parallel; returns once all answer /readyz.

        Call it from a thread that outlives the clusters (e.g. the main thread): the servers get
        SIGTERM when the thread that started them ends, so a killed test run leaves nothing behind.
        """
        began = time.monotonic()
        assets = find_assets(self._assets)
        apiserver = os.path.join(assets, "kube-apiserver")
        version = binary_version(apiserver)
        if version < MIN_KUBERNETES:
            raise ControlPlaneError(f"{apiserver} is Kubernetes {version[0]}.{version[1]}; the tests need "
                                    f"{MIN_KUBERNETES[0]}.{MIN_KUBERNETES[1]} or newer (Istio 1.24's floor)")
        if self.workdir is None:
            # tmpfs when available: etcd fsyncs every write.
            shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            self.workdir = tempfile.mkdtemp(prefix="gloomesh-cp-", dir=shm)
        os.makedirs(self.workdir, exist_ok=True)
        atexit.register(self.stop)
        try:
            self._write_shared_files()
            self._etcd = _Process("etcd", os.path.join(self.workdir, "etcd.log"),
                                  self._etcd_argv(os.path.join(assets, "etcd")), 2)
            self._etcd.spawn()
            self._wait_ready([self._etcd], began + timeout)
            for name in self.names:
                # SIGKILL when orphaned: it also ends a frozen (SIGSTOPped) server.
                self._servers[name] = _Process(name, os.path.join(self.workdir, name, "apiserver.log"),
                                               self._apiserver_argv(apiserver, name), 1, signal.SIGKILL)
            servers = list(self._servers.values())
            # In waves: twenty starting at once on two cores took 75-130 s, each server spending
            # 6 CPU s instead of its 3.5 s alone (docs/benchmarks.md, "Twenty clusters"). Each wave
            # gets the whole timeout, as every server did when all started at once.
            for first in range(0, len(servers), STARTING_AT_ONCE):
                wave = servers[first:first + STARTING_AT_ONCE]
                for server in wave:
                    server.spawn()
                self._wait_ready(wave, time.monotonic() + timeout)
            self._write_kubeconfigs()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self):
        """Stop what was hooked on, the simulators, every process this control plane started (by PID),
        and remove its temp workdir."""
        while self.stop_hooks:
            self.stop_hooks.pop()()
        if self.simulators is not None:
            self.simulators.stop()
            self.simulators = None
        for proc in list(self._servers.values()) + ([self._etcd] if self._etcd else []):
            if proc.proc is not None and proc.proc.poll() is not None and not proc.killed:
                # Died on its own: say so, or later connection errors in tests look like our bugs.
                sys.stderr.write(f"{proc.name} had exited with code {proc.proc.returncode} before stop(); "
                                 f"{proc.log_path} ends with:\n{proc.log_tail()}\n")
            proc.stop()
        atexit.unregister(self.stop)
        if self._own_workdir and self.workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        """PIDs of every process started (etcd and the API servers)."""
        procs = list(self._servers.values()) + ([self._etcd] if self._etcd else [])
        return [p.proc.pid for p in procs if p.proc is not None]

    # -- faults ----------------------------------------------------------------------------------
    def freeze(self, context: str, timeout: float = 5.0):
        """Stop the kube-apiserver of `context` (SIGSTOP): every request to it hangs until thaw().

        Returns once the kernel shows it stopped: SIGSTOP takes effect asynchronously, and on a busy
        machine a process can still be running right after the signal was sent."""
        server = self._server(context)
        if not server.frozen:
            server.signal(signal.SIGSTOP)
            server.frozen = True
            _wait_stopped(server.proc.pid, timeout, context)

    def thaw(self, context: str):
        """Resume a frozen kube-apiserver (SIGCONT)."""
        server = self._server(context)
        if server.frozen:
            server.signal(signal.SIGCONT)
            server.frozen = False

    def kill(self, context: str, timeout: float = 10.0):
        """Kill the kube-apiserver of `context` (SIGKILL, as a crash) and wait until it is gone."""
        server = self._server(context)
        if not server.running():
            return
        server.killed = True
        server.proc.kill()
        server.proc.wait(timeout)
        server.frozen = False

    def restart(self, context: str, timeout: float = 60.0):
        """Start the kube-apiserver of `context` again on the same port, with the same data.

        A running one is killed first. Returns once it answers /readyz. Call it from the thread
        that called start() (see start()).
        """
        server = self._server(context)
        self.kill(context)
        server.pinned = True
        server.spawn(server.ports)
        self._wait_ready([server], time.monotonic() + timeout)

    def frozen(self, context: str) -> bool:
        return self._server(context).frozen

    def running(self, context: str) -> bool:
        """The kube-apiserver process of `context` exists (frozen or not)."""
        return self._server(context).running()

    def server_pid(self, context: str) -> int | None:
        server = self._server(context)
        return server.proc.pid if server.running() else None

    def _server(self, context: str) -> _Process:
        try:
            return self._servers[context]
        except KeyError:
            raise ControlPlaneError(f"no cluster {context!r}: expected one of {', '.join(self.names)}") from None

    # -- access ----------------------------------------------------------------------------------
    @property
    def contexts(self) -> tuple[str, ...]:
        return self.names

    def server_url(self, context: str) -> str:
        return f"https://127.0.0.1:{self._servers[context].ports[0]}"

    def api_client(self, context: str, simulator: bool = False):
        """A kubernetes python client ApiClient for one cluster, as admin or as the simulator user."""
        from kubernetes import config

        path = self.simulator_kubeconfig_path if simulator else self.kubeconfig_path
        return config.new_client_from_config(config_file=path, context=context)

    # -- audit -----------------------------------------------------------------------------------
    def audit_mark(self) -> dict:
        """Current end of every audit log; pass it to writes_since()."""
        return {name: self._audit_size(name) for name in self.names}

    def events_since(self, mark: dict, context: str | None = None) -> list[dict]:
        """Every audit event (ResponseComplete) logged since the mark, each tagged with its 'context'."""
        events = []
        for name in ([context] if context else self.names):
            for event in self._read_audit(name, mark.get(name, 0)):
                if event.get("stage") == "ResponseComplete":
                    event["context"] = name
                    events.append(event)
        return events

    def writes_since(self, mark: dict, context: str | None = None) -> list[dict]:
        """Mutating requests by `admin` since the mark, dry runs excluded (one event per request)."""
        return [e for e in self.events_since(mark, context)
                if e.get("verb") in MUTATING_VERBS
                and e.get("user", {}).get("username") == ADMIN_USER
                and "dryRun=" not in e.get("requestURI", "")]

    def _audit_path(self, name):
        return os.path.join(self.workdir, name, "audit.log")

    def _audit_size(self, name):
        """Offset just past the last complete event: the server may be writing the next one, and a
        mark in the middle of a line would make the next read start with half an event."""
        try:
            with open(self._audit_path(name), "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                start = max(0, size - 65536)  # an event is a few KiB at most
                fh.seek(start)
                tail = fh.read(size - start)
        except FileNotFoundError:
            return 0
        return start + tail.rfind(b"\n") + 1

    def _read_audit(self, name, offset):
        # The server writes an event after it sends the response, so a request the test just
        # saw complete may not be logged yet. A marker request sent now is logged after it:
        # read until the marker shows up.
        server = self._servers[name]
        if server.frozen or not server.running():
            # It writes nothing now, and would not answer a marker request.
            return [e for e in self._audit_events(name, offset) if _SYNC_PARAM not in e.get("requestURI", "")]
        token = uuid.uuid4().hex
        self._request(name, f"/version?{_SYNC_PARAM}={token}", timeout=30)
        deadline = time.monotonic() + 10
        while True:
            events = self._audit_events(name, offset)
            if any(token in e.get("requestURI", "") for e in events):
                return [e for e in events if _SYNC_PARAM not in e.get("requestURI", "")]
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"audit log of {name} did not record the sync request within 10s")
            time.sleep(0.02)

    def _audit_events(self, name, offset) -> list[dict]:
        with open(self._audit_path(name), "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        # Complete lines only: the server may be writing the next event right now.
        lines = data[:data.rfind(b"\n") + 1].decode("utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    # -- etcd ------------------------------------------------------------------------------------
    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (what the API server does every 5
        minutes); a watch from an older resourceVersion then gets 410 Gone. Returns the revision."""
        def post(path, body):
            req = urllib.request.Request(f"http://127.0.0.1:{self._etcd.ports[0]}{path}",
                                         data=json.dumps(body).encode(), method="POST")
            with _LOOPBACK.open(req, timeout=10) as resp:
                return json.loads(resp.read())

        # etcd's gRPC gateway (JSON over HTTP on the client URL); the key is base64 of "/".
        revision = int(post("/v3/kv/range", {"key": "Lw==", "limit": 1})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    # -- internals -------------------------------------------------------------------------------
    def _request(self, name, path, timeout=2.0) -> tuple[int, str]:
        req = urllib.request.Request(self.server_url(name) + path,
                                     headers={"Authorization": f"Bearer {self._tokens[ADMIN_USER]}"})
        ctx = ssl.create_default_context(cadata=self._ca_pem.decode())
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
        try:
            with opener.open(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def _ready(self, proc: _Process) -> bool:
        try:
            if proc is self._etcd:
                with _LOOPBACK.open(f"http://127.0.0.1:{proc.ports[0]}/health", timeout=1) as resp:
                    return json.loads(resp.read()).get("health") == "true"
            return self._request(proc.name, "/readyz", timeout=1)[0] == 200
        except (OSError, ValueError):
            return False

    def _wait_ready(self, procs: list[_Process], deadline: float):
        pending = list(procs)
        delay = 0.05
        while pending:
            for proc in list(pending):
                if proc.proc.poll() is not None:
                    if proc.respawn_after_port_race():
                        continue
                    raise ControlPlaneError(
                        f"{proc.name} exited with code {proc.proc.returncode} while starting; "
                        f"log {proc.log_path} ends with:\n{proc.log_tail()}")
                if self._ready(proc):
                    pending.remove(proc)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    "not ready in time: " + ", ".join(p.name for p in pending) + "\n"
                    + "\n".join(f"--- {p.log_path} ends with:\n{p.log_tail()}" for p in pending))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _write_shared_files(self):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("gloomesh-harness-ca", ca_key.public_key(), "gloomesh-harness-ca", ca_key, True)
        self._ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        for name in self.names:
            cert_dir = os.path.join(self.workdir, name, "certs")
            os.makedirs(cert_dir, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _certificate(f"kube-apiserver-{name}", key.public_key(), "gloomesh-harness-ca", ca_key, False, sans)
            _write(os.path.join(cert_dir, "apiserver.key"), _pem_key(key))
            _write(os.path.join(cert_dir, "apiserver.crt"), cert.public_bytes(serialization.Encoding.PEM))
        sa_key = ec.generate_private_key(ec.SECP256R1())
        _write(os.path.join(self.workdir, "sa.key"), _pem_key(sa_key))
        _write(os.path.join(self.workdir, "sa.pub"), sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        _write(os.path.join(self.workdir, "tokens.csv"), "".join(
            f'{token},{user},{user},"system:masters"\n' for user, token in self._tokens.items()).encode())
        _write(os.path.join(self.workdir, "audit-policy.yaml"), yaml.safe_dump(AUDIT_POLICY).encode())

    def _etcd_argv(self, etcd):
        def argv(ports):
            client, peer = (f"http://127.0.0.1:{p}" for p in ports)
            # A data dir per attempt: one written before a failed bind names the old peer URL.
            data_dir = os.path.join(self.workdir, f"etcd-data-{ports[0]}")
            return [etcd, "--name", "harness", "--data-dir", data_dir,
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", f"harness={peer}", "--logger", "zap", "--log-level", "warn"]
        return argv

    def _apiserver_argv(self, apiserver, name):
        wd = self.workdir
        cert_dir = os.path.join(wd, name, "certs")

        def argv(ports):
            args = [
                apiserver,
                f"--etcd-servers=http://127.0.0.1:{self._etcd.ports[0]}",
                f"--etcd-prefix=/{name}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={ports[0]}",
                # serves cert-dir/apiserver.{crt,key}: ours, signed by the CA in the kubeconfigs
                f"--cert-dir={cert_dir}",
                f"--token-auth-file={wd}/tokens.csv",
                "--authorization-mode=RBAC",
                f"--service-account-issuer=https://kubernetes.default.svc/{name}",
                f"--service-account-signing-key-file={wd}/sa.key",
                f"--service-account-key-file={wd}/sa.pub",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # No controller-manager creates the `default` ServiceAccount: let simulators create pods.
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                # The `kubernetes` Service cannot point at loopback; skip its endpoint reconciler.
                "--endpoint-reconciler-type=none",  # istio-cni and ztunnel pod templates are privileged
                f"--audit-policy-file={wd}/audit-policy.yaml",
                f"--audit-log-path={wd}/{name}/audit.log",
                "--audit-log-mode=blocking",
                "--profiling=false",
                *self._apiserver_args,
            ]
            return args
        return argv

    def _write_kubeconfigs(self):
        self.kubeconfig_path = os.path.join(self.workdir, "kubeconfig")
        self.simulator_kubeconfig_path = os.path.join(self.workdir, "kubeconfig-simulator")
        _write(self.kubeconfig_path, yaml.safe_dump(self.kubeconfig(ADMIN_USER)).encode())
        _write(self.simulator_kubeconfig_path, yaml.safe_dump(self.kubeconfig(SIMULATOR_USER)).encode())

    def kubeconfig(self, user: str = ADMIN_USER) -> dict:
        """Kubeconfig document with one context per cluster, authenticated as `user`."""
        ca_data = base64.b64encode(self._ca_pem).decode()
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": n, "cluster": {"server": self.server_url(n),
                                                 "certificate-authority-data": ca_data}} for n in self.names],
            "users": [{"name": user, "user": {"token": self._tokens[user]}}],
            "contexts": [{"name": n, "context": {"cluster": n, "user": user}} for n in self.names],
            "current-context": self.names[0],
        }


def terminate(proc: subprocess.Popen, timeout: float):
    """SIGTERM, then SIGKILL if `proc` is still there after `timeout` seconds; waits for its end."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _write(path, data: bytes):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def start_environment(names=DEFAULT_NAMES, simulators=True, install_operator=True, workdir=None,
                      load_balancers=None, mesh_configmaps=None, istiod=()):
    """What tests, molecule and the demo run against: clusters, CRDs, simulators, a simulated gloo-operator.

    load_balancers: {context: mode or (mode, delay)} and mesh_configmaps: {context: mode}, set on
    the simulators before they start (see `Simulators.set_load_balancer` / `set_mesh_configmap`).
    istiod: contexts where upstream istiod plays istiod in place of the simulators' (tests/harness/
    istiod.py with_deployment: the pod of the Gloo Operator's Deployment istiod-gloo, from when an
    install creates it; nothing to wait for before that); `cp.istiods` holds them. Call it from a
    thread that outlives the processes (their parent-death signal).
    """
    cp = LocalControlPlane(names, workdir).start()
    # Set-up writes go as the simulator user: audit counts of `admin` are the collection's alone.
    try:
        # Each server spends seconds on these large CRDs (OpenAPI aggregation): overlap them.
        with concurrent.futures.ThreadPoolExecutor(len(cp.names)) as pool:
            for future in [pool.submit(_install_crds, cp, name) for name in cp.names]:
                future.result()
        if simulators:
            from .simulators import Simulators

            cp.simulators = Simulators(cp.simulator_kubeconfig_path, list(cp.names))
            for context, mode in (load_balancers or {}).items():
                cp.simulators.set_load_balancer(context, *((mode,) if isinstance(mode, str) else mode))
            for context, mode in (mesh_configmaps or {}).items():
                cp.simulators.set_mesh_configmap(context, mode)
            cp.simulators.start()
        if install_operator:
            from .simulators import install_gloo_operator

            for name in cp.names:
                with cp.api_client(name, simulator=True) as client:
                    install_gloo_operator(client)
        if istiod:
            from .istiod import start_with_control_plane

            start_with_control_plane(cp, contexts=istiod, with_deployment=True, wait=False)
    except BaseException:
        cp.stop()
        raise
    return cp


def _install_crds(cp: LocalControlPlane, name: str):
    from .crds import install_crds

    with cp.api_client(name, simulator=True) as client:
        install_crds(client)


# -- a control plane in a background process (molecule create/destroy, make demo / demo-down) ------
STATE_FILE = "state.json"


def read_state(state_dir: str) -> dict | None:
    try:
        with open(os.path.join(state_dir, STATE_FILE), encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def _running(pid: int, argv0: str) -> bool:
    """True while `pid` is a live (not zombie) process started as `argv0` (guards against PID reuse)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
        # An exiting process loses its cmdline before it becomes a zombie: still running.
        return not cmdline or cmdline.split(b"\0")[0].decode() == argv0
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _argv0(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().split(b"\0")[0].decode()


def serve(state_dir: str, names=DEFAULT_NAMES, simulators=True, load_balancers=None, mesh_configmaps=None,
          istiod=()):
    """Body of the background process: start everything, publish state.json, run until SIGTERM.

    istiod: as for start_environment(); state.json gives under "istiod" the file holding each
    one's http port (its /debug endpoints; a rollout moves it) and its log.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds into cp.stop() below
    # The playbooks install the operator with the real helm (molecule, make demo): nothing may own its
    # objects before it.
    cp = start_environment(names, simulators=simulators, install_operator=False,
                           load_balancers=load_balancers, mesh_configmaps=mesh_configmaps, istiod=istiod)
    try:
        istiods = cp.istiods.istiods if cp.istiods else {}
        kubeconfig = os.path.join(state_dir, "kubeconfig")
        shutil.copyfile(cp.kubeconfig_path, kubeconfig)
        os.chmod(kubeconfig, 0o600)
        state = {
            "pid": os.getpid(),
            "processes": [{"pid": pid, "argv0": _argv0(pid)}
                          for pid in [os.getpid()] + cp.pids()],
            "kubeconfig": kubeconfig,
            "simulator_kubeconfig": cp.simulator_kubeconfig_path,
            "contexts": list(cp.names),
            "servers": {name: cp.server_url(name) for name in cp.names},
            "lb_addresses": {name: cp.simulators.lb_address(name) for name in cp.names} if simulators else {},
            "load_balancers": ({name: list(cp.simulators.load_balancer(name)) for name in cp.names}
                               if simulators else {}),
            "mesh_configmaps": {name: cp.simulators.mesh_configmap(name) for name in cp.names} if simulators else {},
            "workdir": cp.workdir,
            "startup_seconds": round(cp.startup_seconds, 2),
            "istiod": {name: {"http_port_file": i.port_path, "log": i.log_path} for name, i in istiods.items()},
        }
        tmp = os.path.join(state_dir, STATE_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2)
        os.replace(tmp, os.path.join(state_dir, STATE_FILE))
        while True:
            signal.pause()
    finally:
        cp.stop()


def start_background(state_dir: str, names=DEFAULT_NAMES, simulators=True, timeout=180.0,
                     load_balancers=None, mesh_configmaps=None, istiod=()) -> dict:
    """Run serve() in a detached process and return its state once everything is ready.

    load_balancers / mesh_configmaps: as for start_environment(); istiod: as for serve(). When the
    same clusters with the same settings already run from this state dir, returns their state.
    """
    from .collection_path import REPO_ROOT

    state_dir = os.path.abspath(state_dir)
    state = read_state(state_dir)
    settings = {name: list((mode, 5.0) if isinstance(mode, str) else mode)
                for name, mode in (load_balancers or {}).items()}
    if state and _running(state["pid"], state["processes"][0]["argv0"]):
        running_settings = ({n: state.get("load_balancers", {}).get(n) for n in settings},
                            {n: state.get("mesh_configmaps", {}).get(n) for n in mesh_configmaps or {}},
                            sorted(state.get("istiod") or {}))
        if state["contexts"] != list(names) or \
                running_settings != (settings, dict(mesh_configmaps or {}), sorted(istiod)):
            raise ControlPlaneError(f"{state_dir} already runs clusters {state['contexts']} with other settings; "
                                    f"stop them first (python -m tests.harness down --state-dir {state_dir})")
        return state
    os.makedirs(state_dir, exist_ok=True)
    for stale in (STATE_FILE, "kubeconfig"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(state_dir, stale))
    log_path = os.path.join(state_dir, "harness.log")
    argv = [sys.executable, "-m", "tests.harness", "serve", "--state-dir", state_dir,
            "--clusters", ",".join(names)] + ([] if simulators else ["--no-simulators"])
    for name, (mode, delay) in settings.items():
        argv += ["--load-balancer", f"{name}={mode}:{delay:g}"]
    for name, mode in (mesh_configmaps or {}).items():
        argv += ["--mesh-configmap", f"{name}={mode}"]
    if istiod:
        argv += ["--istiod", ",".join(istiod)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while (state := read_state(state_dir)) is None:
        if proc.poll() is not None:
            raise ControlPlaneError(f"the background control plane exited with code {proc.returncode}; "
                                    f"{log_path} ends with:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            _stop_session(proc)
            raise ControlPlaneError(f"the background control plane was not ready after {timeout:.0f}s; "
                                    f"{log_path} ends with:\n{_tail(log_path)}")
        time.sleep(0.1)
    return state


STOP_GRACE = 30.0


def _stop_session(proc: subprocess.Popen) -> None:
    """Stop a serve process that never became ready, with what it started (its own session).

    SIGTERM first; a serve stuck past STOP_GRACE seconds (seen once, inside logging's lock) gets
    SIGKILL, so neither it nor its API servers outlive the failed start.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(STOP_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_background(state_dir: str, timeout=30.0) -> bool:
    """Stop what start_background() started, by PID, and wait until every process is gone.

    Returns False when nothing was running there.
    """
    state = read_state(os.path.abspath(state_dir))
    if state is None:
        return False
    procs = state["processes"]
    daemon = procs[0]
    if _running(daemon["pid"], daemon["argv0"]):
        os.kill(daemon["pid"], signal.SIGTERM)
    left = _wait_gone(procs, timeout)
    for p in left:
        os.kill(p["pid"], signal.SIGKILL)
    if _wait_gone(left, 5.0):
        raise ControlPlaneError(f"processes still running after SIGKILL: {left}")
    for name in (STATE_FILE, "kubeconfig"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(state_dir, name))
    return True


def _wait_gone(procs: list[dict], timeout: float) -> list[dict]:
    """Wait until none of procs runs; return those still running at the timeout."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in procs if _running(p["pid"], p["argv0"])]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _tail(path, lines=30) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no log)"
