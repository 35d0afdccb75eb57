"""Typed errors raised by the pure cores.

Each error carries a stable machine-readable ``code``. The HTTP status for each
class is decided in exactly one place, ``lumograph.serve.errors``; the cores never
know about HTTP.
"""
from __future__ import annotations


class LumographError(Exception):
    """Base class: ``code`` is stable API, ``message`` is for humans."""

    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class InvalidImage(LumographError):
    """The bytes are not a decodable image (empty, corrupt, truncated)."""

    code = "invalid_image"


class UnsupportedInput(LumographError):
    """A decodable input we refuse: animated, too many pixels, too many bytes, bad option."""

    code = "unsupported_input"


class InvalidOptions(LumographError):
    """Request options that fail validation."""

    code = "invalid_options"


class BackendUnavailable(LumographError):
    """A named backend cannot run here (weights missing, library absent)."""

    code = "backend_unavailable"


class QualityRejected(LumographError):
    """The QA gate failed the input or the output; never delivered as a success."""

    code = "quality_rejected"


class SubjectNotFound(LumographError):
    """No product could be separated from the background."""

    code = "subject_not_found"


class OutOfScope(LumographError):
    """A photo the route is not for (an on-model shot sent to the lightbox): refused with
    the reason and the measured cue in ``details`` rather than processed into nonsense."""

    code = "out_of_scope"
