"""The admin server put together: the core (``http``: auth, probes, metrics) with the JSON API and
the review pages mounted on it. Importing the parts one way (api and pages know the core, the
core knows neither) keeps the admin package free of import cycles."""

from __future__ import annotations

from gateway.admin import api, learning, pages
from gateway.admin.http import AdminHost, AdminServer
from gateway.quarantine import QuarantineReview


def admin_server(host: AdminHost, review: QuarantineReview) -> AdminServer:
    server = AdminServer(host, review)
    api.add_routes(server.app)
    pages.add_routes(server.app)
    learning.add_routes(server.app)
    return server
