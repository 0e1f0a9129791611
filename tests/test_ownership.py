"""The reconciler's ownership rule, without an engine: what carries this install's label
is removed only when this install's database says it made it and nothing needs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from hostd.control.ownership import Action, Ownership, load_ownership
from hostd.store import db
from hostd.store.models import DeletedProject, Project, User

OWN = Ownership(projects=frozenset({"p-live", "p-deploying"}), deleted=frozenset({"p-gone"}),
                current=frozenset({"c-current"}), busy=frozenset({"p-deploying"}))


def labels(project: str | None) -> dict[str, str]:
    found = {"hostd.instance": "shared"}
    return found | ({"hostd.project": project} if project else {})


@pytest.mark.parametrize(("container", "project", "action", "why"), [
    ("c-current", "p-live", Action.keep, "current container"),
    ("c-other", "p-deploying", Action.keep, "deploying"),
    ("c-left", "p-live", Action.remove, "not the current container of project p-live"),
    ("c-late", "p-gone", Action.remove, "its project p-gone was deleted"),
    # Same label, but no project of this database: another install's, never touched.
    ("c-theirs", "p-someone-elses", Action.foreign, "not in this install's database"),
    ("c-bare", None, Action.foreign, "not in this install's database"),
])
def test_containers(container, project, action, why):
    verdict = OWN.container(container, labels(project))
    assert verdict.action is action
    assert why in verdict.reason


@pytest.mark.parametrize(("project", "action"), [
    ("p-live", Action.keep),  # a release's image: retention's business
    ("p-gone", Action.remove),
    ("p-someone-elses", Action.foreign),
])
def test_images(project, action):
    assert OWN.image(project).action is action


def test_ownership_is_read_from_the_database(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hostd.db'}")
    db.migrate(engine)
    with Session(engine) as session:
        user = User(email="a@example.com", name="a", handle="a", password_hash="x")
        session.add(user)
        session.commit()
        session.add(Project(id="p-run", user_id=user.id, name="run", template="static",
                            github_url="https://example.com/a.git", container_id="c-run"))
        session.add(Project(id="p-new", user_id=user.id, name="new", template="static",
                            github_url="https://example.com/b.git"))
        session.add(DeletedProject(project_id="p-old"))
        session.commit()
    own = load_ownership(engine, busy=frozenset({"p-new"}))
    engine.dispose()
    assert own == Ownership(projects=frozenset({"p-run", "p-new"}),
                            deleted=frozenset({"p-old"}), current=frozenset({"c-run"}),
                            busy=frozenset({"p-new"}))
