"""`hostd images prune`: the old base images go, unless a kept release is built on one.

The database says which images the kept releases run (the newest HOSTD_RELEASES_KEPT of
each project); the engine layer (``hostd.engine.base_prune``) removes the old base tags
that none of them, no other project image and no container is built on. Run by the
operator, with or without the daemon running: it changes no row.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from hostd.config import Settings
from hostd.engine.base_prune import PruneOutcome, prune_base_images
from hostd.engine.client import connect
from hostd.store import db, releases


def kept_release_images(settings: Settings) -> set[str]:
    """The images of every project's kept releases; none for a database not made yet."""
    engine = db.make_engine(settings.database_uri, threads=2)
    try:
        if not db.has_schema(engine):
            return set()
        with Session(engine) as session:
            return releases.kept_images_everywhere(session, settings.releases_kept)
    finally:
        engine.dispose()


def prune_bases(settings: Settings, log: Callable[[str], None],
                dry_run: bool = False) -> PruneOutcome:
    """Remove (``dry_run``: name) the old base tags nothing kept is built on. Raises
    EngineUnavailable, DatabaseUrlError, SQLAlchemyError."""
    kept = kept_release_images(settings)
    log(f"{len(kept)} images of kept releases (HOSTD_RELEASES_KEPT={settings.releases_kept})")
    client = connect(settings.docker_host)
    try:
        return prune_base_images(client, kept, log, dry_run=dry_run)
    finally:
        client.close()
