"""A client of the mailu-git REST API (``/api/v1``), standard library only.

Served by the server itself as a wheel: ``GET /api/v1/client/python`` names it, and
``pip install http://HOST/api/v1/client/python/<file>`` installs it.

>>> from mailu_git import Client
>>> api = Client("http://127.0.0.1:8080", token="mgit_...")
>>> api.domains.create({"name": "example.com"}, wait=True)
>>> api.users.create({"email": "alice@example.com", "raw_password": "..."})
>>> api.versions()[0]["number"]

Errors are the API's, in Mailu's shape (``{"code", "message", "errors"}``), raised as
:class:`MailuError` subclasses chosen by status code.
"""

from ._client import Client, Collection
from ._errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MailuError,
    NotFound,
    PreconditionFailed,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unreachable,
)

__version__ = "@VERSION@"

__all__ = [
    "BadRequest",
    "Client",
    "Collection",
    "Conflict",
    "Forbidden",
    "MailuError",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "__version__",
]
