"""The backend's small error hierarchy. Only the shell (the rollup loop) catches these."""


class DappError(Exception):
    """Base of every error the backend raises on purpose. ``code`` names it in JSON reports."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The human-readable text of the error."""
        return str(self.args[0]) if self.args else self.code


class InvalidInput(DappError):
    """The input's bytes cannot be decoded into a command (bad hex, ABI, portal payload...)."""

    code = "invalid_input"


class DomainError(DappError):
    """A well-formed command breaks a rule of the market (balance, permissions, state...)."""

    code = "rule_violated"
