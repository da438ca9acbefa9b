"""The client library's errors. Each carries a message fit to show a user as is."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error the client raises on purpose."""

    @property
    def message(self) -> str:
        """The human-readable text of the error."""
        return str(self.args[0]) if self.args else type(self).__name__


class ConfigError(ClientError):
    """The node, chain, application or account could not be determined or is malformed."""


class SpecError(ClientError):
    """A job spec or an amount given by the user is invalid (the message names the key)."""


class NodeError(ClientError):
    """The Cartesi node (reader JSON-RPC or inspect) failed or answered something unexpected."""


class TransactionFailed(ClientError):
    """A base-layer transaction reverted or could not be sent: ``error`` is the custom error's signature
    (None if unknown), ``data`` the revert data; ``receipt`` and ``tx_hash`` when it was mined."""

    def __init__(self, message: str, *, error: str | None = None, data: bytes = b"", receipt: Any = None,
                 tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.data = data
        self.receipt = receipt
        self.tx_hash = tx_hash


class InspectFailed(ClientError):
    """An inspect query was answered with ``{"ok": false, "error": {...}}``."""

    def __init__(self, message: str, *, code: str = "error", report: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.report = report


class InputFailed(ClientError):
    """An input was rejected, or accepted with an error report; ``outcome`` holds what came out."""

    def __init__(self, message: str, *, outcome: Any) -> None:
        super().__init__(message)
        self.outcome = outcome
