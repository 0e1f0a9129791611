"""Names and labels of what hostd creates on the engine.

Labels tie every container and image to its daemon instance, project, user and
deployment; the reconciler and tests find things by label, never by name.
"""

from __future__ import annotations

INSTANCE_LABEL = "hostd.instance"
PROJECT_LABEL = "hostd.project"
USER_LABEL = "hostd.user"
DEPLOYMENT_LABEL = "hostd.deployment"
PROCESS_LABEL = "hostd.process"  # the process type a replica runs ("web")
REPLICA_LABEL = "hostd.replica"  # its number within its type (the 2 of web.2)
# On an image built from a template made for a read-only root filesystem (the nginx
# ones): its containers run that way, with a tmpfs /tmp (hostd.engine.docker_runtime).
ROOTFS_LABEL = "hostd.rootfs"
READ_ONLY = "read-only"
IMAGE_REPOSITORY = "hostd-app"


def labels_for(instance: str, project_id: str, user_id: str, deployment_id: str) -> dict[str, str]:
    return {
        INSTANCE_LABEL: instance,
        PROJECT_LABEL: project_id,
        USER_LABEL: user_id,
        DEPLOYMENT_LABEL: deployment_id,
    }


def container_name(project: str, handle: str, deployment_id: str) -> str:
    # Dots cannot occur in names or handles, so `a-b.c` and `a.b-c` never collide;
    # the deployment suffix lets a new container exist beside the old one.
    return f"hostd.{project}.{handle}.{deployment_id[:8]}"


def image_tag(project_id: str, deployment_id: str) -> str:
    return f"{IMAGE_REPOSITORY}/{project_id}:{deployment_id[:12]}"
