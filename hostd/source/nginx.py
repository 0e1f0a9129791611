"""nginx for static sites: the files baked into ``hostd/nginx`` and the digest naming them.

The ``static`` template and the final stage of ``react`` serve ``/www`` with Debian's
nginx. The config is written for the way hostd runs containers (see ``containers.py``):
a non-root user (65534, no writable home, nothing under /var is writable to it),
no-new-privileges, memory/pids/CPU limits, and it must also work with a read-only root
filesystem and a tmpfs ``/tmp`` — so nginx writes only to /tmp (pid, temp dirs, the
rendered listen line), logs to stdout/stderr, and never binds a privileged port.

``hostd-nginx MODE`` (``static`` or ``spa``) renders ``listen $PORT`` (templates keep the
``$PORT`` contract) plus the mode's ``location /`` into /tmp, then ``exec``s nginx, so
nginx is the process docker-init signals. The image's STOPSIGNAL is SIGQUIT: nginx's
graceful stop (in-flight requests finish); SIGTERM would be its fast stop.

The image's tag (``hostd.source.bases``) carries a :func:`digest` of these files and of
its recipe: bootstrap skips images that exist, so a changed config must get a new tag to
be built at all.
"""

from __future__ import annotations

import hashlib

CONF_DIR = "/etc/nginx/hostd"
START_SCRIPT = "/usr/local/bin/hostd-nginx"
SITE_ROOT = "/www"
LISTEN_BACKLOG = 4096
MODES = ("static", "spa")

# One worker per CPU of the container's quota (HOSTD_CONTAINER_CPUS, 1 by default),
# rendered by the start script: `auto` would count the host's cores, not the quota.
NGINX_CONF = f"""\
# hostd: static sites as a non-root user; everything writable lives in /tmp.
daemon off;
include /tmp/nginx-main.conf;
pid /tmp/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 4096;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    # One line per request on stdout: what `hostctl projects logs` shows.
    log_format hostd '$remote_addr "$request" $status $body_bytes_sent '
                     '"$http_user_agent" $request_time';
    access_log /dev/stdout hostd;

    client_body_temp_path /tmp/nginx-client-body;
    proxy_temp_path /tmp/nginx-proxy;
    fastcgi_temp_path /tmp/nginx-fastcgi;
    uwsgi_temp_path /tmp/nginx-uwsgi;
    scgi_temp_path /tmp/nginx-scgi;

    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 1000;
    server_tokens off;
    # Behind the router and a published port, nginx's own port (8000) is never the one
    # the browser used: redirects (e.g. /docs -> /docs/) keep a relative Location.
    absolute_redirect off;

    gzip on;
    gzip_vary on;
    gzip_min_length 512;
    gzip_types text/plain text/css text/xml text/javascript application/javascript
               application/json application/xml application/rss+xml image/svg+xml;

    server {{
        # The listen line (with the port from $PORT) and `location /` for the mode.
        include /tmp/nginx-server.conf;
        root {SITE_ROOT};
        index index.html;
        # A site served from its repository's root would publish .env, .git, .htpasswd:
        # no dotfile is served, except .well-known (ACME challenges, security.txt).
        location ~ /\\.(?!well-known(/|$)) {{
            return 404;
        }}
    }}
}}
"""

# `static`: a missing file is a plain 404.
STATIC_LOCATION = """\
location / {
    try_files $uri $uri/ =404;
}
"""

# `spa` (react): client-side routes such as /users/42 get index.html; the app routes.
SPA_LOCATION = """\
location / {
    try_files $uri $uri/ /index.html;
}
"""

# POSIX sh (dash in the image). PORT comes from the container's environment, set by
# hostd; it is checked to be a number before it reaches the config.
START_SH = f"""\
#!/bin/sh
# hostd-nginx static|spa: render the listen line and the mode, then become nginx.
set -eu
mode="${{1:-static}}"
case "$mode" in
    static|spa) ;;
    *) echo "hostd-nginx: unknown mode '$mode' (static or spa)" >&2; exit 64 ;;
esac
port="${{PORT:-8000}}"
case "$port" in
    ''|*[!0-9]*) echo "hostd-nginx: PORT must be a number, got '$port'" >&2; exit 64 ;;
esac
# Workers: the CPU quota rounded up (cgroup v2 cpu.max, else v1 cfs), at most the cores.
quota=max
period=100000
if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period < /sys/fs/cgroup/cpu.max
elif [ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
    period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
fi
cores=$(nproc)
case "$quota" in
    max|-1) workers=$cores ;;
    *) workers=$(( (quota + period - 1) / period )) ;;
esac
[ "$workers" -ge 1 ] || workers=1
[ "$workers" -le "$cores" ] || workers=$cores
echo "worker_processes $workers;" > /tmp/nginx-main.conf
{{
    echo "listen $port backlog={LISTEN_BACKLOG};"
    echo "include {CONF_DIR}/$mode.conf;"
}} > /tmp/nginx-server.conf
exec nginx -e stderr -c {CONF_DIR}/nginx.conf
"""


def image_files() -> dict[str, str]:
    """Build-context file name -> text, for the hostd/nginx recipe."""
    return {
        "nginx.conf": NGINX_CONF,
        "static.conf": STATIC_LOCATION,
        "spa.conf": SPA_LOCATION,
        "hostd-nginx": START_SH,
    }


def digest(recipe: str) -> str:
    """8 hex digits naming these files built by ``recipe`` (the suite and package)."""
    text = "\0".join(f"{name}\0{body}" for name, body in sorted(image_files().items()))
    return hashlib.sha256(f"{recipe}\0{text}".encode()).hexdigest()[:8]
