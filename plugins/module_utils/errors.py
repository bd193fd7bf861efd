# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""The one error type operations raise."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class GloomeshError(Exception):
    """A failure to report to the user: a message plus structured details for the result."""

    def __init__(self, message, **details):
        super(GloomeshError, self).__init__(message)
        self.message = message
        self.details = details
