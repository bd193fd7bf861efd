"""Make the working tree importable and runnable as the gloomesh.multicluster collection."""
from __future__ import annotations

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_PATH = os.path.join(REPO_ROOT, ".tmp", "collections")
_LINK = os.path.join(COLLECTIONS_PATH, "ansible_collections", "gloomesh", "multicluster")


def ensure_collection_link() -> str:
    """Create .tmp/collections/ansible_collections/gloomesh/multicluster -> repo root."""
    if not os.path.islink(_LINK):
        os.makedirs(os.path.dirname(_LINK), exist_ok=True)
        os.symlink(os.path.relpath(REPO_ROOT, os.path.dirname(_LINK)), _LINK)
    return COLLECTIONS_PATH


_finder_installed = False


def install_collection_finder() -> None:
    """Let Python import ansible_collections.* from our tree and from site-packages, as ansible does."""
    global _finder_installed
    if _finder_installed:
        return
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    ensure_collection_link()
    _AnsibleCollectionFinder(paths=[COLLECTIONS_PATH], scan_sys_paths=True)._install()
    _finder_installed = True


def ansible_env(extra: dict | None = None) -> dict:
    """Environment for ansible-* subprocesses that find this collection."""
    ensure_collection_link()
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS_PATH
    env.setdefault("ANSIBLE_HOST_KEY_CHECKING", "False")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env
