"""Every route that takes an id, walked from the OpenAPI document with another user's
project id: always 404, and the project is untouched. A new route is walked without
touching this file, so it cannot forget the ownership check."""

from __future__ import annotations

import re
from typing import Any

import httpx

NOWHERE = "file:///nonexistent/owned.git"
PARAM = re.compile(r"\{[^}]+\}")


def sample(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The smallest body that satisfies `schema`'s required fields (so a 404 is not a 400)."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "enum" in schema:
        return schema["enum"][-1]
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: sample(props[name], spec) for name in schema.get("required", [])}
    return {"integer": 1, "number": 1, "boolean": False, "array": []}.get(
        schema.get("type", "string"), "stopped")


def routes_with_ids(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation)
            for path, operations in spec["paths"].items() if PARAM.search(path)
            for method, operation in operations.items()]


def test_every_route_with_an_id_hides_other_users_projects(client: httpx.Client, user: dict,
                                                           other_user: dict) -> None:
    resp = client.post("/api/projects", headers=user["headers"], json={
        "name": "mine", "github_url": NOWHERE, "template": "static"})
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    spec = client.get("/openapi.json").json()
    walked = routes_with_ids(spec)
    assert len(walked) >= 10, walked  # the walk is not vacuous
    for method, path, operation in walked:
        url = PARAM.sub(project["id"], path)
        kwargs: dict[str, Any] = {}
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            kwargs["json"] = sample(body["schema"], spec)
        resp = client.request(method, url, headers=other_user["headers"], **kwargs)
        assert resp.status_code == 404, f"{method.upper()} {path}: {resp.status_code} {resp.text}"
        assert resp.json()["error"] == "NotFound", resp.text
        assert project["id"] not in resp.text and "mine" not in resp.text
    mine = client.get(f"/api/projects/{project['id']}", headers=user["headers"])
    assert mine.status_code == 200
    assert {k: mine.json()["project"][k] for k in ("id", "name", "userId")} == {
        k: project[k] for k in ("id", "name", "userId")}
    theirs = client.get("/api/projects", headers=other_user["headers"]).json()["projects"]
    assert project["id"] not in {p["id"] for p in theirs}
