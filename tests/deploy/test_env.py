"""Config vars reach the app's container: at once when it runs, at the next start when
stopped, and across redeploys."""

from __future__ import annotations

from tests.deploy.conftest import answers, create, only_container, published_port, wait_status

ECHO_ENV = {
    "Dockerfile": "FROM hostd/busybox:1\nUSER 65534:65534\n"
                  'CMD ["sh", "-c", "mkdir -p /tmp/www && echo \\"greeting=$GREETING\\" '
                  '> /tmp/www/index.html && exec httpd -f -p $PORT -h /tmp/www"]\n',
}


def greeting(engine, project_id: str) -> str:
    return answers(published_port(engine, project_id)).text.strip()


def test_config_vars_reach_the_container(api, repo, engine):
    project = wait_status(api, create(api, "envy", repo(ECHO_ENV), "static")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    pid = project["id"]
    assert greeting(engine, pid) == "greeting="

    resp = api.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "hello env"}})
    assert resp.status_code == 200, resp.text
    assert "restarted with them" in resp.json()["message"]
    assert api.get(f"/api/projects/{pid}").json()["project"]["status"] == "running"
    assert greeting(engine, pid) == "greeting=hello env"
    container = only_container(engine, pid)
    assert "GREETING=hello env" in container.attrs["Config"]["Env"]
    assert "PORT=8000" in container.attrs["Config"]["Env"]

    assert api.post(f"/api/containers/{pid}/stop").status_code == 200
    resp = api.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "while stopped"}})
    assert "next starts" in resp.json()["message"]
    assert api.post(f"/api/containers/{pid}/start").status_code == 200
    assert greeting(engine, pid) == "greeting=while stopped"

    assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
    assert wait_status(api, pid, {"running", "error"})["status"] == "running"
    assert greeting(engine, pid) == "greeting=while stopped"

    resp = api.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": None}})
    assert resp.json()["env"] == {}
    assert greeting(engine, pid) == "greeting="


def test_the_first_deploy_has_the_vars_given_at_create(api, repo, engine):
    body = {"name": "envfirst", "github_url": repo(ECHO_ENV), "template": "static",
            "env": {"GREETING": "from the start"}}
    resp = api.post("/api/projects", json=body)
    assert resp.status_code == 201, resp.text
    project = wait_status(api, resp.json()["project"]["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    assert greeting(engine, project["id"]) == "greeting=from the start"
