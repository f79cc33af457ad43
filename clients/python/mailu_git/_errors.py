"""The API's errors as exceptions: one class per status the API documents."""

from __future__ import annotations

from typing import Dict, Optional


class MailuError(Exception):
    """A refusal of the server: its status ``code``, ``message`` and field ``errors``."""

    def __init__(self, code: int, message: str, errors: Optional[Dict[str, str]] = None) -> None:
        self.code = code
        self.message = message
        self.errors: Dict[str, str] = dict(errors or {})
        text = f"{code}: {message}"
        for field, problem in sorted(self.errors.items()):
            if message != f"{field}: {problem}":
                text += f"\n  {field}: {problem}"
        super().__init__(text)


class BadRequest(MailuError):
    """400: a field breaks a rule; ``errors`` names each field."""


class Unauthorized(MailuError):
    """401: no access token was sent."""


class Forbidden(MailuError):
    """403: an unknown token, or one whose scope does not allow the request."""


class NotFound(MailuError):
    """404: no such object or path."""


class Conflict(MailuError):
    """409: the object exists already, or a limit is reached."""


class PreconditionFailed(MailuError):
    """412: ``If-Match`` names another version of the object."""


class TooLarge(MailuError):
    """413: the request body is too large."""


class RateLimited(MailuError):
    """429: too many failed authentications from this client."""


class Unavailable(MailuError):
    """503: writes are suspended (see ``Client.status()``)."""


class Unreachable(MailuError):
    """The server could not be reached at all (``code`` is 0)."""


BY_STATUS = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: TooLarge,
    429: RateLimited,
    503: Unavailable,
}


def error_for(code: int, message: str, errors: Optional[Dict[str, str]] = None) -> MailuError:
    """The exception for an answer with status ``code``."""
    return BY_STATUS.get(code, MailuError)(code, message, errors)
