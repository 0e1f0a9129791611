"""A user's source, read as hostile and turned into a build plan; no engine here.

* ``checkout``          reading a hostile tree without following links
* ``templates``         pure: template + repository directory -> Dockerfile text
* ``pyapp``             a Python app's entry: the WSGI/ASGI module, gunicorn
* ``procfile``          the Procfile's process types and `release:`, as Dokku reads them
* ``appjson``           app.json's `formation` and `cron`, as Dokku reads them
* ``node_versions``     the Node.js line a project asks for (engines.node, .nvmrc)
* ``bases``             the base images' names and recipes' ingredients (Debian 13)
* ``nginx``             the files baked into the nginx base image, and their digest
* ``dockerfile_words``  FROM's variable expansion, as the builder does it
* ``imageref``          image reference normalization
"""
