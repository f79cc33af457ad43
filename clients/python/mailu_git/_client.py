"""The HTTP client: one :class:`Client` per server and access token."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Union

from ._errors import Unreachable, error_for

Json = Any


def _quote(segment: str) -> str:
    # `%` is an alias wildcard and must arrive as a literal; `@` stays readable.
    return urllib.parse.quote(str(segment), safe="@")


class Collection:
    """A resource of the API addressed as ``/<path>`` and ``/<path>/<key>``.

    ``list``, ``get``, ``create``, ``update`` (PATCH: only the fields given change) and ``delete``.
    Writes answer ``{"code", "message", "change"}``; with ``wait=True`` also the ``version`` that
    holds the change.
    """

    def __init__(self, client: "Client", path: str) -> None:
        self._client = client
        self._path = path

    def list(self, **query: Union[str, int]) -> List[Dict[str, Json]]:
        """Every object (``q=``, ``limit=``, ``offset=`` filter and page)."""
        return self._client.request("GET", self._path, query=query)

    def get(self, key: str) -> Dict[str, Json]:
        return self._client.request("GET", f"{self._path}/{_quote(key)}")

    def create(self, body: Dict[str, Json], wait: bool = False) -> Dict[str, Json]:
        return self._client.request("POST", self._path, body=body, wait=wait)

    def update(self, key: str, changes: Dict[str, Json], wait: bool = False) -> Dict[str, Json]:
        return self._client.request(
            "PATCH", f"{self._path}/{_quote(key)}", body=changes, wait=wait
        )

    def delete(self, key: str, wait: bool = False) -> Dict[str, Json]:
        return self._client.request("DELETE", f"{self._path}/{_quote(key)}", wait=wait)


class Client:
    """A client of one mailu-git server.

    ``url`` is the server's base URL (``http://127.0.0.1:8080``); ``token`` an access token (an
    admin token for writes). Every method raises a :class:`mailu_git.MailuError` subclass when the
    server refuses.
    """

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.domains = Collection(self, "domain")
        self.alternatives = Collection(self, "alternative")
        self.relays = Collection(self, "relay")
        self.users = Collection(self, "user")
        self.aliases = Collection(self, "alias")
        self.tokens = Collection(self, "token")
        self.fetches = Collection(self, "fetch")
        self.services = Collection(self, "service")

    # -- transport -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Optional[Json] = None,
        query: Optional[Dict[str, Any]] = None,
        wait: bool = False,
        raw: Optional[bytes] = None,
        binary: bool = False,
    ) -> Any:
        """Sends ``method /api/v1/<path>``; returns the decoded JSON (bytes when ``binary``)."""
        params = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (query or {}).items()}
        if wait:
            params["wait"] = "true"
        url = f"{self.url}/api/v1/{path.lstrip('/')}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data: Optional[bytes] = None
        if raw is not None:
            data = raw
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as answer:
                content = answer.read()
        except urllib.error.HTTPError as err:
            content = err.read()
            try:
                parsed = json.loads(content)
                message = str(parsed.get("message", ""))
                errors = parsed.get("errors") or {}
            except (ValueError, AttributeError):
                message, errors = content.decode(errors="replace")[:200], {}
            raise error_for(err.code, message, errors) from None
        except urllib.error.URLError as err:
            raise Unreachable(0, f"cannot reach {self.url}: {err.reason}") from None
        if binary:
            return content
        return json.loads(content) if content else None

    # -- domains -------------------------------------------------------------------------------

    def domain_users(self, domain: str) -> List[Dict[str, Json]]:
        return self.request("GET", f"domain/{_quote(domain)}/users")

    def managers(self, domain: str) -> List[Dict[str, Json]]:
        return self.request("GET", f"domain/{_quote(domain)}/manager")

    def add_manager(self, domain: str, email: str, wait: bool = False) -> Dict[str, Json]:
        return self.request(
            "POST", f"domain/{_quote(domain)}/manager", body={"user_email": email}, wait=wait
        )

    def remove_manager(self, domain: str, email: str, wait: bool = False) -> Dict[str, Json]:
        return self.request(
            "DELETE", f"domain/{_quote(domain)}/manager/{_quote(email)}", wait=wait
        )

    def generate_dkim(self, domain: str, wait: bool = False) -> Dict[str, Json]:
        return self.request("POST", f"domain/{_quote(domain)}/dkim", wait=wait)

    def alias_destinations(self, domain: str) -> List[Dict[str, Json]]:
        return self.request("GET", f"alias/destination/{_quote(domain)}")

    def user_tokens(self, email: str) -> List[Dict[str, Json]]:
        return self.request("GET", f"tokenuser/{_quote(email)}")

    def create_user_token(self, email: str, body: Dict[str, Json], wait: bool = False) -> Dict[str, Json]:
        return self.request("POST", f"tokenuser/{_quote(email)}", body=body, wait=wait)

    # -- settings and services -----------------------------------------------------------------

    def settings(self) -> Dict[str, Json]:
        return self.request("GET", "settings")

    def update_settings(self, patch: Dict[str, Json], wait: bool = False) -> Dict[str, Json]:
        """A JSON merge patch (RFC 7396): objects merge, ``None`` resets a key to its default."""
        return self.request("PATCH", "settings", body=patch, wait=wait)

    def service_token(self, service: str) -> Dict[str, Json]:
        return self.request("POST", f"service/{_quote(service)}/token")

    # -- overrides (files, stored as sent) -----------------------------------------------------

    def _files(self, kind: str, first: str) -> List[Dict[str, Json]]:
        return self.request("GET", f"{kind}/{_quote(first)}")

    def _file_path(self, kind: str, first: str, path: str) -> str:
        rest = "/".join(_quote(p) for p in path.strip("/").split("/"))
        return f"{kind}/{_quote(first)}/{rest}"

    def overrides(self, service: str) -> List[Dict[str, Json]]:
        return self._files("override", service)

    def get_override(self, service: str, path: str) -> bytes:
        return self.request("GET", self._file_path("override", service, path), binary=True)

    def put_override(self, service: str, path: str, content: bytes, wait: bool = False) -> Dict[str, Json]:
        return self.request("PUT", self._file_path("override", service, path), raw=content, wait=wait)

    def delete_override(self, service: str, path: str, wait: bool = False) -> Dict[str, Json]:
        return self.request("DELETE", self._file_path("override", service, path), wait=wait)

    def templates(self, service: str) -> List[Dict[str, Json]]:
        return self._files("template", service)

    def get_template(self, service: str, file: str) -> bytes:
        return self.request("GET", self._file_path("template", service, file), binary=True)

    def put_template(self, service: str, file: str, content: bytes, wait: bool = False) -> Dict[str, Json]:
        return self.request("PUT", self._file_path("template", service, file), raw=content, wait=wait)

    def delete_template(self, service: str, file: str, wait: bool = False) -> Dict[str, Json]:
        return self.request("DELETE", self._file_path("template", service, file), wait=wait)

    def mailu_overrides(self) -> List[Dict[str, Json]]:
        return self.request("GET", "mailu-override")

    def get_mailu_override(self, folder: str, file: str) -> bytes:
        return self.request("GET", self._file_path("mailu-override", folder, file), binary=True)

    def put_mailu_override(self, folder: str, file: str, content: bytes, wait: bool = False) -> Dict[str, Json]:
        return self.request("PUT", self._file_path("mailu-override", folder, file), raw=content, wait=wait)

    def delete_mailu_override(self, folder: str, file: str, wait: bool = False) -> Dict[str, Json]:
        return self.request("DELETE", self._file_path("mailu-override", folder, file), wait=wait)

    # -- versions ------------------------------------------------------------------------------

    def versions(self, **query: Union[str, int]) -> List[Dict[str, Json]]:
        """Versions, newest first (``limit=``, ``offset=``, ``q=``)."""
        return self.request("GET", "version", query=query)

    def version(self, rev: Union[str, int]) -> Dict[str, Json]:
        return self.request("GET", f"version/{_quote(str(rev))}")

    def diff(self, a: Union[str, int], b: Union[str, int], **query: Union[str, int]) -> Dict[str, Json]:
        return self.request("GET", f"version/{_quote(str(a))}/diff/{_quote(str(b))}", query=query)

    def revert(self, rev: Union[str, int], deploy: bool = False) -> Dict[str, Json]:
        """A new version whose configuration is ``rev``'s."""
        query = {"deploy": "true"} if deploy else {}
        return self.request("POST", f"version/{_quote(str(rev))}/revert", query=query)

    def suspend(self) -> Dict[str, Json]:
        """Hold the deployed version where it is while main moves on."""
        return self.request("POST", "suspend")

    def resume(self) -> Dict[str, Json]:
        return self.request("POST", "resume")

    def status(self) -> Dict[str, Json]:
        return self.request("GET", "status")

    def pending(self) -> Dict[str, Json]:
        return self.request("GET", "pending")

    def change(self, change_id: str) -> Dict[str, Json]:
        return self.request("GET", f"change/{_quote(change_id)}")

    def tags(self) -> List[Dict[str, Json]]:
        return self.request("GET", "tag")

    def tag(self, name: str, version: int) -> Dict[str, Json]:
        return self.request("POST", "tag", body={"name": name, "version": version})

    def untag(self, name: str) -> Dict[str, Json]:
        return self.request("DELETE", f"tag/{_quote(name)}")

    def gc(self) -> Dict[str, Json]:
        return self.request("POST", "gc")

    def certificate(self) -> Dict[str, Json]:
        return self.request("GET", "certificate")

    # -- migration -----------------------------------------------------------------------------

    def export(self, secrets: bool = False) -> Dict[str, Json]:
        """The configuration as a Mailu ``config-export`` document (password hashes included)."""
        return self.request("GET", "export", query={"secrets": secrets})

    def import_document(
        self,
        document: Dict[str, Json],
        update: bool = False,
        dry_run: bool = False,
        wait: bool = False,
    ) -> Dict[str, Json]:
        """Imports a ``config-export`` document as one change (``update``: Mailu's merge notation)."""
        body = {"mode": "update" if update else "replace", "dry_run": dry_run, "document": document}
        return self.request("POST", "import", body=body, wait=wait)
