"""Domain errors raised by services and mapped to HTTP answers by the API layer."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: a request that the domain refuses, with a status and field messages."""

    status = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422
