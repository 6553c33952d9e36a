"""podcast-host: a self-hostable podcast host and feed publisher."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from podcast_host.config import load_settings
from podcast_host.services import Services, build_services

__all__ = ["create_app"]


def create_app(test_config: Mapping[str, object] | None = None, services: Services | None = None) -> Flask:
    """Build the Flask app: settings, services, blueprints. Wiring only."""
    from podcast_host import web

    if services is None:
        services = build_services(load_settings(overrides=test_config))
    templates = Path(str(resources.files("podcast_host.templates")))
    app = Flask(
        __name__,
        template_folder=str(templates),
        static_folder=str(templates / "static"),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=services.settings.secret_key,
        MAX_CONTENT_LENGTH=services.settings.max_upload_bytes,
        # Multipart text fields (notes, titles) stay small; files stream to disk.
        MAX_FORM_MEMORY_SIZE=2 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=services.settings.public_url.startswith("https://"),
        TESTING=services.settings.testing,
    )
    app.extensions["podcast_host"] = services
    proxies = services.settings.trusted_proxies
    if proxies:
        # The client's address (sign-in throttle) comes from the X-Forwarded-For entry the trusted proxies
        # wrote; scheme and Host are left alone, as every link starts with PUBLIC_URL. (Replacing wsgi_app is
        # how Flask documents wrapping the app; mypy reads it as assigning to a method.)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=0)  # type: ignore[method-assign]
    web.init_app(app)
    return app
