"""Security headers on every jobboard response: pages, fragments, JSON API, health,
metrics, static files and error answers (404s included)."""

from __future__ import annotations

import gzip

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
    if response.status_code == 304:
        return response  # no body to protect: an idle poll's answer stays a few bytes
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "jobboard.static":
        # Job data changes by the second and may be sensitive: never cache it in proxies.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


#: Answers worth compressing: pages, fragments, JSON, metrics text, scripts and styles.
COMPRESSIBLE = frozenset(("text/html", "application/json", "text/plain", "text/css",
                          "application/javascript", "text/javascript", "image/svg+xml",
                          "application/problem+json", "application/openmetrics-text"))
#: Below this many bytes gzip's header costs more than it saves.
MIN_COMPRESS = 600


def compress(response: Response) -> Response:
    """gzip the body when the client accepts it and it is text worth compressing (level
    5: a 100-row page in about a millisecond, to a tenth of its size)."""
    if (response.direct_passthrough or response.is_streamed
            or "Content-Encoding" in response.headers
            or response.mimetype not in COMPRESSIBLE
            or "gzip" not in request.headers.get("Accept-Encoding", "").lower()):
        return response
    body = response.get_data()
    if len(body) < MIN_COMPRESS:
        return response
    response.set_data(gzip.compress(body, 5, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response
