"""Domain errors. The API layer maps each kind to an HTTP status; nothing below `api/` knows HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.domain.models import Usage


class DossierError(Exception):
    """Base class of every error Dossier raises on purpose."""

    code = "dossier_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DossierError):
    """The caller sent something Dossier cannot accept (empty text, bad filter, ...).

    `fields`, when set, lists (field, problem) pairs of a body that failed validation.
    """

    code = "invalid_input"

    def __init__(self, message: str, fields: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields


class UnsupportedMediaType(InvalidInput):
    """A file type Dossier cannot read, or bytes that are not text."""

    code = "unsupported_media_type"


class PayloadTooLarge(InvalidInput):
    """A file or text above the configured size limit."""

    code = "payload_too_large"


class Unauthenticated(DossierError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthenticated"


class Forbidden(DossierError):
    """A valid key whose role or collections don't allow this request, or a cross-site request."""

    code = "forbidden"


class TooManyRequests(DossierError):
    """A rate limit or the model queue is full; `retry_after_s` says when to try again."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestTimeout(DossierError):
    """A request ran past its time budget (its work may still finish in the background)."""

    code = "request_timeout"


class NotFound(DossierError):
    """A document (or other resource) that does not exist."""

    code = "not_found"


class Conflict(DossierError):
    """Stored state contradicts the configuration (e.g. another embedding model)."""

    code = "conflict"


class EmbeddingModelMismatch(Conflict):
    """The collection was built with a different embedding model than the one configured."""

    code = "embedding_model_mismatch"


class ModelUnavailable(DossierError):
    """The language or embedding model endpoint could not be reached after bounded retries.

    `retry_after_s`, when set, is how long a caller should wait (sent as HTTP `Retry-After`).
    """

    code = "model_unavailable"

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelUnreachable(ModelUnavailable):
    """The model endpoint could not be reached at all: down, or its server restarting. Work may wait for it."""

    code = "model_unavailable"


class ModelRequestRejected(DossierError):
    """The model endpoint rejected the request with a non-retryable 4xx."""

    code = "model_request_rejected"


class ModelOutputInvalid(DossierError):
    """The model's structured output failed validation even after a re-ask. `usage`: what the failed calls cost
    (a `Usage`, set by the caller that made them), so a service that carries on can still count it."""

    code = "model_output_invalid"

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class ConfigurationError(DossierError):
    """Settings, prompt files or installed model parts are wrong."""

    code = "configuration_error"


class Abandoned(DossierError):
    """The client of a streamed request went away; the work stops at its next step (nobody is told)."""

    code = "abandoned"
