"""Hostile input at the API: unicode and control characters, lengths, unknown fields,
nesting and size. (Malformed JSON, wrong types and the body limit's mechanics are in
tests/test_api_surface.py and tests/test_auth_api.py.)"""

from __future__ import annotations

import json
import unicodedata

import httpx
import pytest

from tests.support import auth, register, unique_email

PASSWORD = "s3cret-pass"
REGISTER, LOGIN, PROJECTS = "/api/auth/register", "/api/auth/login", "/api/projects"
NOWHERE = "file:///nonexistent/input.git"
ZERO_WIDTH, BIDI_OVERRIDE, NUL, ESC = "\u200b", "\u202e", "\x00", "\x1b"


def error(resp: httpx.Response, status: int = 400) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "message", "statusCode"} and body["statusCode"] == status
    return body


def test_emails_are_trimmed_lower_cased_and_nfc_then_match_at_login(client):
    local = f"zoe-{unique_email()[:10]}"
    decomposed = unicodedata.normalize("NFD", f"  {local.upper()}-É@Example.COM \t")
    resp = client.post(REGISTER, json={"email": decomposed, "password": PASSWORD, "name": "Zoé"})
    assert resp.status_code == 201, resp.text
    stored = resp.json()["user"]["email"]
    assert stored == unicodedata.normalize("NFC", f"{local}-é@example.com")
    # Any spelling that normalises the same logs in, and is the same account.
    for spelling in (stored, stored.upper(), unicodedata.normalize("NFD", stored)):
        resp = client.post(LOGIN, json={"email": spelling, "password": PASSWORD})
        assert resp.status_code == 200, (spelling, resp.text)
    again = client.post(REGISTER, json={"email": stored.upper(), "password": PASSWORD,
                                        "name": "Twin"})
    assert error(again, 409)["error"] == "ConflictError"


@pytest.mark.parametrize("bad", [ZERO_WIDTH, BIDI_OVERRIDE, NUL, ESC, "\n", "\u0085"])
def test_control_and_format_characters_are_refused_in_emails_and_names(client, bad):
    email = unique_email()
    resp = client.post(REGISTER, json={"email": email.replace("@", f"{bad}@"),
                                       "password": PASSWORD, "name": "Mallory"})
    assert "email" in error(resp)["message"]
    if bad.isspace():  # whitespace inside a name is collapsed to one space, not refused
        return
    resp = client.post(REGISTER, json={"email": email, "password": PASSWORD,
                                       "name": f"Mal{bad}lory"})
    assert "name" in error(resp)["message"]


def test_names_are_nfc_with_whitespace_collapsed(client):
    resp = client.post(REGISTER, json={"email": unique_email(), "password": PASSWORD,
                                       "name": unicodedata.normalize("NFD", " Ana \t  Löw ")})
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["name"] == "Ana Löw"


@pytest.mark.parametrize(("field", "value"), [
    ("email", "a" * 250 + "@b.co"), ("name", "n" * 101), ("password", "p" * 73),
    ("password", "é" * 37),  # 74 bytes in UTF-8
])
def test_registration_lengths(client, field, value):
    body = {"email": unique_email(), "password": PASSWORD, "name": "Len", field: value}
    assert field in error(client.post(REGISTER, json=body))["message"]


@pytest.mark.parametrize(("field", "value"), [
    ("name", "x" * 41), ("name", "Straße"), ("name", f"ok{ZERO_WIDTH}"), ("name", "-lead"),
    ("github_url", "https://h/" + "a" * 2048), ("github_url", f"https://h/r{NUL}"),
    ("github_url", "--upload-pack=touch /tmp/x"), ("template", "django"),
])
def test_project_fields_have_shape_and_length_limits(client, user, field, value):
    body = {"name": "fine", "github_url": NOWHERE, "template": "static", field: value}
    resp = client.post(PROJECTS, json=body, headers=user["headers"])
    assert field in error(resp)["message"]


def test_unknown_fields_are_ignored_and_never_applied(client, user, other_user):
    resp = client.post(PROJECTS, headers=user["headers"], json={
        "name": "massassign", "github_url": NOWHERE, "template": "static",
        "userId": other_user["user"]["id"], "user_id": other_user["user"]["id"],
        "status": "running", "id": "0" * 32, "container_id": "abc", "host_port": 1,
        "extra": {"deep": [1, 2, 3]}})
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    assert project["userId"] == user["user"]["id"] and project["id"] != "0" * 32
    assert project["status"] == "deploying"
    theirs = client.get(PROJECTS, headers=other_user["headers"]).json()["projects"]
    assert project["id"] not in {p["id"] for p in theirs}
    resp = client.post(REGISTER, json={"email": unique_email(), "password": PASSWORD,
                                       "name": "Eve", "handle": "admin", "id": "x"})
    assert resp.status_code == 201 and resp.json()["user"]["handle"] != "admin"


@pytest.mark.parametrize("depth", [50, 5000])
def test_deep_nesting_in_a_field_is_a_400(client, user, depth):
    nested = "[" * depth + "]" * depth
    raw = f'{{"name": {nested}, "github_url": "{NOWHERE}", "template": "static"}}'
    resp = client.post(PROJECTS, content=raw.encode(),
                       headers={**user["headers"], "Content-Type": "application/json"})
    error(resp)


def test_one_mib_is_the_default_limit(client, user):
    filler = "x" * (1024 * 1024)
    body = json.dumps({"email": unique_email(), "password": PASSWORD, "name": filler})
    assert error(client.post(REGISTER, content=body.encode(),
                             headers={"Content-Type": "application/json"}), 413)[
        "error"] == "PayloadTooLarge"
    token, _ = register(client)
    resp = client.post(PROJECTS, content=b"{" + b" " * (1024 * 1024) + b"}",
                       headers={**auth(token), "Content-Type": "application/json"})
    assert error(resp, 413)["error"] == "PayloadTooLarge"
