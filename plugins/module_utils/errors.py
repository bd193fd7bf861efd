# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""The one error type services raise, and the wrapper every module's main uses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from urllib3.exceptions import HTTPError as TransportError
except ImportError:  # no kubernetes client (and so no urllib3): nothing to catch
    TransportError = ()


class GloomeshError(Exception):
    """A failure to report to the user: a message plus structured details for the result."""

    def __init__(self, message, **details):
        super(GloomeshError, self).__init__(message)
        self.message = message
        self.details = details


def run_and_exit(module, service):
    """Run ``service(module) -> result dict`` and exit the module with it.

    GloomeshError becomes fail_json(msg=..., **details); an unreachable API server a short
    message. Other exceptions are left to Ansible's traceback handling on purpose: they are bugs.
    """
    try:
        result = service(module)
    except GloomeshError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    except TransportError as exc:
        module.fail_json(msg="cannot reach the Kubernetes API server: %s" % exc)
    else:
        module.exit_json(**result)
