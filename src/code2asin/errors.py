"""The one exception tree of Code2ASIN.

``Code2AsinError``
    ``IngestError``          the input file cannot be read as a barcode table (one sentence for the user)
    ``ProviderError``        a provider call failed; carries an ``ErrorType`` and an optional retry delay
        ``ConfigurationError``   credentials, partner tag or eligibility are wrong: stop the job, do not retry
    ``LifecycleError``       an action is not allowed in the job's current status (HTTP 409)
    ``NotFoundError``        the job, item or token does not exist or is not visible to the caller
    ``InvalidValueError``    a value given by the caller is not acceptable (an ASIN, an option, a permission)

Error classes of failed rows (``ErrorType``) are a contract: ``network``, ``api_rate_limit``,
``invalid_data``, ``unknown``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    NETWORK = "network"
    API_RATE_LIMIT = "api_rate_limit"
    INVALID_DATA = "invalid_data"
    UNKNOWN = "unknown"


ERROR_DESCRIPTIONS: dict[ErrorType, str] = {
    ErrorType.NETWORK: "Network/connectivity errors (temporary, should retry)",
    ErrorType.API_RATE_LIMIT: "API rate limit exceeded (temporary, retry with backoff)",
    ErrorType.INVALID_DATA: "Invalid ASIN/product data (permanent, don't retry)",
    ErrorType.UNKNOWN: "Unknown error (retry with caution)",
}

#: Minutes to wait before attempts 2..6 of a failed row (design section 7).
RETRY_BACKOFF_MINUTES: tuple[int, ...] = (1, 5, 15, 60, 240)


class Code2AsinError(Exception):
    """Base of every error Code2ASIN raises on purpose."""


class IngestError(Code2AsinError):
    """The input file cannot be read as a barcode table. The message is one sentence for the user."""


class ProviderError(Code2AsinError):
    """A provider call failed.

    ``error_type`` classifies it; ``retry_after`` (seconds) is set when the provider said how long to wait.
    ``sent`` is False when our own pacing declined to make the call (a quota that will not cover it within
    the wait a worker may spend): no request left, so the row spends no attempt and comes back at
    ``retry_after``.
    """

    def __init__(
        self, message: str, error_type: ErrorType, retry_after: float | None = None, *, sent: bool = True
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retry_after = retry_after
        self.sent = sent


class ConfigurationError(ProviderError):
    """Credentials, partner tag or account eligibility are wrong: the job stops with this sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorType.UNKNOWN)


class LifecycleError(Code2AsinError):
    """The requested action is not allowed from the job's current status."""


class NotFoundError(Code2AsinError):
    """The object does not exist or is not visible to the caller."""


class InvalidValueError(Code2AsinError):
    """A value given by the caller is not acceptable (an ASIN, an option, a permission name)."""
