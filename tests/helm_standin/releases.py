"""Helm 3's release storage, as the helm stand-in keeps it and as tests seed it.

Written from helm v3.17.3's source, not from the collection's reader (so a test of the reader
checks it against helm's format, not against itself):

- pkg/storage/driver/util.go, encodeRelease: JSON of the release, gzip (best compression),
  base64; the Secret's data key ``release`` holds that text (the API base64-encodes it again).
- pkg/storage/driver/secrets.go, newSecretsObject / Create / Update: Secret
  ``sh.helm.release.v1.<name>.v<revision>`` (pkg/storage/storage.go, makeKey), type
  ``helm.sh/release.v1``, labels ``name``, ``owner=helm``, ``status``, ``version`` plus
  ``createdAt`` on create; an update replaces the object, with ``modifiedAt`` instead.
- pkg/storage/storage.go: Deployed (highest revision labelled deployed), History (labels
  name + owner), removeLeastRecent (history limit, the deployed revision kept).
- pkg/release/release.go, info.go; pkg/chart/chart.go, metadata.go: the JSON fields.
"""
from __future__ import annotations

import base64
import datetime
import gzip
import json
import time

SECRET_TYPE = "helm.sh/release.v1"
USER_AGENT = "Helm/3.17.3 (gloomesh stand-in)"


def now() -> str:
    # Go marshals time.Time as RFC 3339 with nanoseconds; UTC is written "Z".
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def key(name: str, revision: int) -> str:
    return f"sh.helm.release.v1.{name}.v{revision}"


def encode(release: dict) -> str:
    return base64.b64encode(gzip.compress(json.dumps(release).encode(), 9, mtime=0)).decode()


def decode(stored: str) -> dict:
    raw = base64.b64decode(stored)
    if raw[:3] == b"\x1f\x8b\x08":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def new_release(name, namespace, chart_meta, chart_values, config, revision, status, description,
                manifest="", first_deployed=None) -> dict:
    stamp = now()
    return {"name": name, "namespace": namespace, "version": revision, "config": config, "manifest": manifest,
            "hooks": [],
            "info": {"first_deployed": first_deployed or stamp, "last_deployed": stamp, "deleted": "",
                     "description": description, "status": status},
            "chart": {"metadata": chart_meta, "lock": None, "templates": [], "values": chart_values,
                      "schema": None, "files": []}}


class Store:
    """The release Secrets of one namespace, read and written like helm's Secrets driver."""

    def __init__(self, api_client, namespace):
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace

    def _secret(self, release, stamp_label):
        labels = {stamp_label: str(int(time.time())), "name": release["name"], "owner": "helm",
                  "status": release["info"]["status"], "version": str(release["version"])}
        return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
                "metadata": {"name": key(release["name"], release["version"]), "labels": labels},
                "data": {"release": base64.b64encode(encode(release).encode()).decode()}}

    def history(self, name) -> list[dict]:
        """Every revision of ``name``, oldest first."""
        items = self.core.list_namespaced_secret(self.namespace, label_selector=f"name={name},owner=helm").items
        releases = [decode(base64.b64decode(s.data["release"]).decode()) for s in items
                    if s.type == SECRET_TYPE and (s.data or {}).get("release")]
        return sorted(releases, key=lambda r: r["version"])

    def deployed(self, name):
        deployed = [r for r in self.history(name) if r["info"]["status"] == "deployed"]
        return deployed[-1] if deployed else None

    def create(self, release):
        self.core.create_namespaced_secret(self.namespace, self._secret(release, "createdAt"))

    def update(self, release):
        secret = self._secret(release, "modifiedAt")
        self.core.replace_namespaced_secret(secret["metadata"]["name"], self.namespace, secret)

    def delete(self, name, revision):
        self.core.delete_namespaced_secret(key(name, revision), self.namespace)

    def prune(self, name, keep):
        """removeLeastRecent: drop the oldest revisions beyond ``keep``, never the deployed one."""
        history = self.history(name)
        if keep < 0 or len(history) <= keep:
            return
        deployed = self.deployed(name)
        doomed = [r for r in history if deployed is None or r["version"] != deployed["version"]]
        for release in doomed[:len(history) - keep]:
            self.delete(name, release["version"])


def seed_release(api_client, namespace, name, chart, version, values, chart_values=None):
    """A deployed release as if installed by helm before the test (revision 1)."""
    meta = {"apiVersion": "v2", "name": chart, "version": version, "appVersion": version, "type": "application"}
    Store(api_client, namespace).create(new_release(name, namespace, meta, chart_values or {}, values, 1,
                                                    "deployed", "Install complete"))
