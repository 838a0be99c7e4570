"""One error shape for every failure: ``{"error": {"code": ..., "message": ..., "details": ...}}``.

Domain errors map to HTTP statuses here and nowhere else:

| error | status | code |
|---|---|---|
| ``AuthenticationError`` | 401 | unauthenticated |
| ``PermissionDeniedError`` | 403 | forbidden |
| ``NotFoundError`` | 404 | not_found |
| ``LifecycleError`` | 409 | conflict |
| ``UploadTooLargeError`` | 413 | payload_too_large |
| ``IngestError``, ``InvalidValueError``, request validation | 422 | invalid_input |
| ``ProviderError`` (misconfigured provider) | 502 | provider_error |
| the database does not answer (``db.database_unavailable``) | 503 + ``Retry-After`` | database_unavailable |
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from code2asin.accounts.service import AuthenticationError, PermissionDeniedError
from code2asin.api.schemas import ErrorResponse
from code2asin.db import DATABASE_RETRY_AFTER_SECONDS, database_unavailable
from code2asin.errors import (
    Code2AsinError,
    IngestError,
    InvalidValueError,
    LifecycleError,
    NotFoundError,
    ProviderError,
)

log = logging.getLogger(__name__)


class UploadTooLargeError(Code2AsinError):
    """The uploaded file is over ``max_upload_bytes`` (HTTP 413)."""


_STATUS: list[tuple[type[Code2AsinError], int, str]] = [
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (LifecycleError, 409, "conflict"),
    (UploadTooLargeError, 413, "payload_too_large"),
    (IngestError, 422, "invalid_input"),
    (InvalidValueError, 422, "invalid_input"),
    (ProviderError, 502, "provider_error"),
]
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_input",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = jsonable_encoder(details)
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: Code2AsinError) -> tuple[int, str]:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Code2AsinError)
    status, code = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, code, str(exc), headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = details[0] if details else {"location": [], "message": "invalid request"}
    where = ".".join(str(p) for p in first["location"])
    return error_response(422, "invalid_input", f"Invalid request: {where}: {first['message']}.", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def database_unavailable_response() -> JSONResponse:
    return error_response(
        503,
        "database_unavailable",
        f"The database is unavailable; retry in {DATABASE_RETRY_AFTER_SECONDS} seconds.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        log.warning("api.database_unavailable", extra={"error": type(exc).__name__})
        return database_unavailable_response()
    raise exc  # a wrong statement is a bug: the server's 500 and its traceback in the log


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(Code2AsinError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


#: the ``responses=`` documentation of the error answers every protected route can give
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing, invalid, expired or revoked token"},
    403: {"model": ErrorResponse, "description": "The token lacks the permission or the supplier"},
    404: {"model": ErrorResponse, "description": "The job does not exist or is not visible"},
    409: {"model": ErrorResponse, "description": "The action is not allowed in the job's status"},
    422: {"model": ErrorResponse, "description": "Invalid request"},
    503: {"model": ErrorResponse, "description": "The database is unavailable (see Retry-After)"},
}
