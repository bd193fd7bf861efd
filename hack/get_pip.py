"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test bootstraps pip into each virtual environment it creates by running
``python get_pip.py --disable-pip-version-check pip==<v> [--no-setuptools] [--no-wheel]``
with a script it fetches from a host that is not reachable here; it uses
``~/.ansible/test/cache/get_pip_<v>.py`` instead when that file exists, and hack/sanity.sh
puts this script there when it is missing.

This script does the same job with what is reachable: the interpreter's own ``ensurepip``
wheel first, then ``pip install`` of the requested packages from the package index.
"""
import ensurepip
import os
import subprocess
import sys

# Options that only get-pip.py understands; pip install would reject them.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}
# The system trust store: the package index is reached through it on these machines.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def main():
    ensurepip.bootstrap(upgrade=True)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    cmd = [sys.executable, "-m", "pip", "install"]
    if os.path.exists(CA_BUNDLE):
        cmd += ["--cert", CA_BUNDLE]
    return subprocess.call(cmd + args)


if __name__ == "__main__":
    sys.exit(main())
