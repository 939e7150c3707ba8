"""Errors every service raises: AWS's code, message and HTTP status, nothing else."""

from __future__ import annotations


class ServiceError(Exception):
    """An error a client sees as an AWS error response.

    `sender_fault` decides the query protocol's <Type> (Sender/Receiver); `extra` carries
    protocol-level fields some errors have (e.g. Lambda's throttling `Reason`, `Type`).
    """

    status = 400
    code = "InternalFailure"

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        sender_fault: bool = True,
        headers: dict[str, str] | None = None,
        **extra,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.sender_fault = sender_fault
        self.headers = headers or {}
        self.extra = extra

    def __repr__(self) -> str:
        return f"{self.code}({self.status}): {self.message}"


def error(code: str, message: str, status: int = 400, **extra) -> ServiceError:
    """Build a ServiceError inline: `raise error("InvalidVpcID.NotFound", "...")`."""
    return ServiceError(message, code=code, status=status, **extra)
