"""A local stand-in for Solo's istioctl buckets: tarballs built by the test, served on 127.0.0.1.

Stands in for https://storage.googleapis.com (procedure, "Set up tools" step 4). The server counts every
request so tests can prove that a re-run does not touch the network, and it also answers
requests sent to it as an HTTP proxy (absolute URL in the request line).
"""
from __future__ import annotations

import io
import tarfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def istioctl_script(reported: str) -> bytes:
    """A tiny `istioctl` that answers `version --remote=false` like the real one."""
    return (
        "#!/bin/sh\n"
        'if [ "$1" = version ] && [ "$2" = --remote=false ]; then\n'
        f'  echo "client version: {reported}"\n'
        "  exit 0\n"
        "fi\n"
        'echo "fake istioctl: $*" >&2\n'
        "exit 1\n"
    ).encode()


def make_tarball(entries) -> bytes:
    """Build a .tar.gz from entries: (name, bytes) for files, or (name, tarfile.TarInfo-type, target).

    Examples: ("istioctl", script), ("istioctl", tarfile.SYMTYPE, "/bin/sh"),
    ("istio-x/bin", tarfile.DIRTYPE, None).
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            if len(entry) == 2:
                data = entry[1]
                info.size = len(data)
                info.mode = 0o755
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = entry[1]
            if entry[1] in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = entry[2]
            info.mode = 0o755
            tar.addfile(info)
    return buf.getvalue()


def root_layout(image: str, reported: str | None = None) -> bytes:
    """Istio <= 1.28 archive: the binary alone at the root."""
    return make_tarball([("istioctl", istioctl_script(reported or image))])


def release_layout(image: str, reported: str | None = None) -> bytes:
    """Istio >= 1.29 archive: the full distribution, binary at istio-<image>/bin/istioctl."""
    top = f"istio-{image}"
    return make_tarball([
        (top, tarfile.DIRTYPE, None),
        (f"{top}/bin", tarfile.DIRTYPE, None),
        (f"{top}/bin/istioctl", istioctl_script(reported or image)),
        (f"{top}/manifest.yaml", b"version: " + image.encode() + b"\n"),
        (f"{top}/samples/README.md", b"samples\n"),
    ])


class TarballServer:
    """HTTP server on 127.0.0.1 (free port, daemon thread) serving `files` {path: bytes}.

    Use as a context manager. `requests` lists (method, path) of every request received.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server naming)
                # As a proxy the request line carries the absolute URL; serve by its path.
                path = urllib.parse.urlsplit(self.path).path
                with server._lock:
                    server.requests.append(("GET", self.path))
                body = server.files.get(path)
                if body is None:
                    self.send_error(404, "No such object")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-tar")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="tarball-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
