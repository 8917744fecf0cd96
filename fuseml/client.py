"""Small, retrying client for FuseML's application store (tag `application` of the FuseML REST API).

Why it exists: the dynamic provider in `fuseml.provider` must register, read and delete
Applications robustly (bounded retries, short timeouts) without ever leaking the bearer token.

Behaviour in brief:

* Every request sends `Accept: application/json`; a YAML answer (FuseML's default) is still parsed.
* Every request has a connect and read timeout of `timeout_s`.
* Connection errors (incl. a body cut short), timeouts, HTTP 5xx and 429 are retried
  `retries` times (so at most `retries + 1` attempts) with exponential backoff capped at
  `max_backoff_s`; a 429's `Retry-After` seconds are honoured (also capped).  No other 4xx is
  ever retried.
* Exactly one log line per attempt on logger `fuseml.client`; no log line or error message
  contains the token, an `Authorization` value or anything token-like.
* The token is read at call time: `token=` if given, else `$FUSEML_TOKEN`, else the file named by
  `$FUSEML_TOKEN_FILE`; `Authorization: Bearer ...` is sent only when a token is present.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
import yaml

from kernel.redact import TOKEN_LIKE, Redactor

logger = logging.getLogger("fuseml.client")

TOKEN_ENV = "FUSEML_TOKEN"
TOKEN_FILE_ENV = "FUSEML_TOKEN_FILE"
BODY_LIMIT = 300
REDACTED = "***"


def redactor(token: str | None = None) -> Redactor:
    """The client's redactor: the token (when known) and anything token-like masked as REDACTED, so
    errors, logs and shown URLs are safe."""
    return Redactor([token], mask=REDACTED, patterns=TOKEN_LIKE)


#: Masks what is shown without the token at hand (logged paths, URLs): anything token-like.
_SHOWN = redactor()
#: How the client (and the provider's messages) show a URL: no user:password, no token-like query value.
redact_url = _SHOWN.url


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Cut `text` to `limit` characters with an ellipsis, so huge bodies do not flood messages."""
    return text if len(text) <= limit else text[:limit] + "...[truncated]"


def read_token() -> str | None:
    """Return the FuseML token from the environment at call time, so it is never a resource input."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    path = os.environ.get(TOKEN_FILE_ENV, "").strip()
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError as exc:
        # The path is configuration, not a secret; the error names the variable to fix.
        raise FuseMLError(f"cannot read ${TOKEN_FILE_ENV} ({path}): {exc.strerror}") from None


class FuseMLError(Exception):
    """Base FuseML failure carrying status, method, url and a truncated, redacted body."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.url = url
        self.body = body


class FuseMLNotFound(FuseMLError):
    """HTTP 404: the application (or route) does not exist."""


class FuseMLBadRequest(FuseMLError):
    """HTTP 400 or 422: FuseML rejected the request; the message includes goa's error message."""


class FuseMLConflict(FuseMLError):
    """HTTP 409: the request conflicts with the server's current state."""


class FuseMLAuthError(FuseMLError):
    """HTTP 401 or 403: the token in $FUSEML_TOKEN / $FUSEML_TOKEN_FILE is missing or not accepted."""


class FuseMLUnavailable(FuseMLError):
    """FuseML stayed unreachable (connect error, timeout, 5xx, 429) after every retry."""


class FuseMLOwnershipError(FuseMLError):
    """The application record belongs to another workflow or stack; raised instead of overwriting it."""


_STATUS_ERRORS: dict[int, type[FuseMLError]] = {
    400: FuseMLBadRequest,
    401: FuseMLAuthError,
    403: FuseMLAuthError,
    404: FuseMLNotFound,
    409: FuseMLConflict,
    422: FuseMLBadRequest,
}


def _is_retryable_status(status: int) -> bool:
    """Say whether an HTTP status is transient (5xx, 429) and therefore worth retrying."""
    return status == 429 or status >= 500


def _decode(response: requests.Response) -> Any:
    """Parse a body as JSON when labelled so, else as YAML (FuseML's default answer format)."""
    text = response.text
    if not text.strip():
        return None
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            pass  # Mislabelled body: YAML is a superset of JSON, so fall through.
    return yaml.safe_load(text)


def _goa_message(response: requests.Response) -> str | None:
    """Extract goa's `message` from an error body (JSON or YAML), or None when absent."""
    try:
        body = _decode(response)
    except (ValueError, yaml.YAMLError):
        return None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return None


class FuseMLClient:
    """Client for FuseML's /applications endpoints with bounded retries and secret-free logging."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self._token = token
        self._sleep = sleep
        self._session = requests.Session()

    def close(self) -> None:
        """Close the underlying HTTP session."""
        self._session.close()

    def __enter__(self) -> FuseMLClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never show the token, even by accident in a debugger or a log of the object.
        return f"FuseMLClient({redact_url(self.base_url)!r})"

    # -- public API -------------------------------------------------------------------------------

    def get(self, name: str) -> dict | None:
        """Return the application called `name`, or None when FuseML answers 404."""
        try:
            body = self._request("GET", f"/applications/{_quote(name)}")
        except FuseMLNotFound:
            return None
        return self._expect_dict("GET", f"/applications/{_quote(name)}", body)

    def list(self, type: str | None = None, workflow: str | None = None) -> list[dict]:
        """Return the applications matching the optional `type` and `workflow` filters."""
        params = {k: v for k, v in (("type", type), ("workflow", workflow)) if v is not None}
        body = self._request("GET", "/applications", params=params)
        if body is None:
            return []
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise FuseMLError("GET /applications: expected a list of applications in the response")
        return body

    def register(self, app: dict) -> dict:
        """Register `app` (a second register with the same name replaces it) and return the record."""
        body = self._request("POST", "/applications", json_body=app)
        return self._expect_dict("POST", "/applications", body)

    def delete(self, name: str) -> bool:
        """Delete application `name`; return False when it was already gone (404 counts as success)."""
        # FuseML routes DELETE only with the trailing slash.
        try:
            self._request("DELETE", f"/applications/{_quote(name)}/")
        except FuseMLNotFound:
            return False
        return True

    # -- internals --------------------------------------------------------------------------------

    @staticmethod
    def _expect_dict(method: str, path: str, body: Any) -> dict:
        """Return `body` when it is a mapping, else fail: an Application is always an object."""
        if not isinstance(body, dict):
            raise FuseMLError(f"{method} {path}: expected an application object in the response")
        return body

    def _headers(self, token: str | None) -> dict[str, str]:
        """Build request headers; Authorization only when a token exists."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        """Seconds to wait before the next attempt: Retry-After on 429, else capped exponential."""
        if response is not None and response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "").strip()
            if retry_after.isdigit():
                return min(float(retry_after), self.max_backoff_s)
        return min(self.backoff_s * (2 ** (attempt - 1)), self.max_backoff_s)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict | None = None,
    ) -> Any:
        """Send one logical request with retries and return the decoded body of a 2xx answer."""
        token = self._token if self._token is not None else read_token()
        url = self.base_url + path
        shown = path + (("?" + "&".join(f"{k}={v}" for k, v in params.items())) if params else "")
        attempts = self.retries + 1
        last_response: requests.Response | None = None
        last_error = ""
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            response: requests.Response | None = None
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers=self._headers(token),
                    timeout=(self.timeout_s, self.timeout_s),
                )
                outcome = f"HTTP {response.status_code}"
                retryable = _is_retryable_status(response.status_code)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                # Only the exception type is shown: its text may echo URLs or headers.
                outcome = type(exc).__name__
                retryable = True
            except requests.RequestException as exc:
                self._log(logging.WARNING, method, shown, attempt, attempts, type(exc).__name__, started)
                raise self._error(FuseMLError, method, url, shown, None, token, type(exc).__name__) from None
            last_response, last_error = response, outcome
            if not retryable or attempt == attempts:
                level = logging.INFO if response is not None and response.ok else logging.WARNING
                self._log(level, method, shown, attempt, attempts, outcome, started)
                break
            delay = self._delay(attempt, response)
            self._log(logging.WARNING, method, shown, attempt, attempts, outcome, started, delay)
            self._sleep(delay)
        return self._result(method, url, shown, last_response, last_error, token, attempts)

    def _result(
        self,
        method: str,
        url: str,
        shown: str,
        response: requests.Response | None,
        error: str,
        token: str | None,
        attempts: int,
    ) -> Any:
        """Turn the final attempt into a decoded body or the matching FuseMLError subclass."""
        if response is None:
            raise self._error(
                FuseMLUnavailable, method, url, shown, None, token, f"{error} after {attempts} attempt(s)"
            )
        status = response.status_code
        if response.ok:
            try:
                return _decode(response)
            except (ValueError, yaml.YAMLError):
                raise self._error(
                    FuseMLError, method, url, shown, response, token, "unparseable response body"
                ) from None
        if _is_retryable_status(status):
            detail = f"HTTP {status} after {attempts} attempt(s)"
            raise self._error(FuseMLUnavailable, method, url, shown, response, token, detail)
        cls = _STATUS_ERRORS.get(status, FuseMLError)
        goa = _goa_message(response)
        detail = f"HTTP {status}" + (f": {goa}" if goa else "")
        raise self._error(cls, method, url, shown, response, token, detail)

    @staticmethod
    def _error(
        cls: type[FuseMLError],
        method: str,
        url: str,
        shown: str,
        response: requests.Response | None,
        token: str | None,
        detail: str,
    ) -> FuseMLError:
        """Build an error whose message and attributes are truncated and redacted."""
        redact = redactor(token)
        body = truncate(redact(response.text)) if response is not None else None
        message = redact(f"FuseML {method} {shown}: {detail}")
        if body:
            message += f" (body: {body})"
        return cls(
            message,
            status=response.status_code if response is not None else None,
            method=method,
            url=redact.url(url),
            body=body,
        )

    def _log(
        self,
        level: int,
        method: str,
        shown: str,
        attempt: int,
        attempts: int,
        outcome: str,
        started: float,
        retry_in: float | None = None,
    ) -> None:
        """Emit the single log line of an attempt; every argument is already secret-free."""
        elapsed_ms = (time.monotonic() - started) * 1000
        suffix = f"; retrying in {retry_in:.2f}s" if retry_in is not None else ""
        logger.log(
            level,
            "FuseML %s %s attempt %d/%d: %s in %.0f ms%s",
            method,
            _SHOWN(shown),
            attempt,
            attempts,
            outcome,
            elapsed_ms,
            suffix,
        )


def _quote(name: str) -> str:
    """Percent-encode an application name for use as one path segment."""
    return quote(name, safe="")
