"""Drives a mailu-git server with the installed wheel: argv = url, admin token, version."""

import sys
import mailu_git
from mailu_git import Client

url, token, version = sys.argv[1], sys.argv[2], sys.argv[3]
assert mailu_git.__version__ == version, mailu_git.__version__
api = Client(url, token)

# Create, read, update, delete.
first = api.domains.create({"name": "example.com", "comment": "made by python"}, wait=True)
assert first["version"] >= 2, first
api.users.create({"email": "alice@example.com", "raw_password": "a fine password"}, wait=True)
assert api.users.get("alice@example.com")["email"] == "alice@example.com"
api.users.update("alice@example.com", {"displayed_name": "Alice"}, wait=True)
assert api.users.get("alice@example.com")["displayed_name"] == "Alice"
api.aliases.create({"email": "%@example.com", "destination": ["alice@example.com"], "wildcard": True}, wait=True)
assert api.aliases.get("%@example.com")["wildcard"] is True
assert [d["name"] for d in api.domains.list()] == ["example.com"]

# Errors are the API's, as exceptions.
try:
    api.domains.create({"name": "example.com"})
    raise SystemExit("a duplicate domain was accepted")
except mailu_git.Conflict as e:
    assert e.code == 409, e
try:
    api.users.get("nobody@example.com")
    raise SystemExit("a missing user was found")
except mailu_git.NotFound:
    pass
try:
    api.users.create({"email": "bad address", "raw_password": "x"})
    raise SystemExit("a bad address was accepted")
except mailu_git.BadRequest as e:
    assert e.errors, e
try:
    Client(url, "not-a-token").domains.list()
    raise SystemExit("a bad token was accepted")
except mailu_git.Forbidden:
    pass

# Settings, services, overrides, status, export.
assert "mailu.toml" not in api.settings()
assert any(s["name"] == "smtp" for s in api.services.list())
api.put_override("smtp", "/etc/postfix/extra.cf", b"# mine\n", wait=True)
assert api.get_override("smtp", "/etc/postfix/extra.cf") == b"# mine\n"
assert api.status()["main"]["version"] >= 4
assert api.export()["user"][0]["email"] == "alice@example.com"

# Delete, then revert to the version that still had the user.
had_alice = api.versions(limit=1)[0]["number"]
api.aliases.delete("%@example.com", wait=True)
api.users.delete("alice@example.com", wait=True)
try:
    api.users.get("alice@example.com")
    raise SystemExit("a deleted user is still there")
except mailu_git.NotFound:
    pass
reverted = api.revert(had_alice)
assert reverted["reverted_to"]["number"] == had_alice, reverted
assert api.users.get("alice@example.com")["displayed_name"] == "Alice"

# Suspend and resume.
assert api.suspend()["suspended"] is True
assert api.resume()["suspended"] is False
print("python client ok")
