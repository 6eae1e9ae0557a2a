"""Typed errors; each carries the HTTP status the API answers with."""

from __future__ import annotations


class UsageError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParams(UsageError):
    status = 400


class Unauthorized(UsageError):
    status = 401


class Forbidden(UsageError):
    status = 403


class NotFound(UsageError):
    status = 404


class RateLimited(UsageError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseUnavailable(UsageError):
    status = 503


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the setting."""
