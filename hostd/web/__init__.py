"""The browser front end: the dashboard's pages, their assets, and the API's own docs
(Swagger UI at /docs, ReDoc at /redoc), all served from files inside this package.

Plain HTML, CSS and JavaScript modules: no build step, no CDN. The pages talk to the
API like any client, signed in with the session cookie (hostd.api.session).
"""
