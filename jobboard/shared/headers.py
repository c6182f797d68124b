"""Security headers on every jobboard response: pages, fragments, JSON API, health,
metrics, static files and error answers (404s included)."""

from __future__ import annotations

from flask import Response, request

#: Defence in depth behind escaping: no inline script, no eval, nothing foreign.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)

#: Sent with every response under the prefix.
HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


def add_security_headers(response: Response) -> Response:
    """Set the headers (a value the view set itself wins) and keep dynamic answers uncached."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "jobboard.static":
        # Job data changes by the second and may be sensitive: never cache it in proxies.
        response.headers.setdefault("Cache-Control", "no-store")
    return response
