"""The LMS's one exception hierarchy for what its services refuse: each feature's error is an :class:`LmsError`
that says why (``message``) and which HTTP status fits (``status``), so that the API answers them all alike."""

from __future__ import annotations


class LmsError(Exception):
    """A request an LMS service refuses: ``message`` says why, ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
