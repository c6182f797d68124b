"""gunicorn settings for the clinic app (``gunicorn wsgi:app`` reads this file).

Threads rather than more processes: the dashboard polls small fragments every few
seconds, which is I/O-bound work (a Redis round trip), so a few threads per worker serve
many open tabs on a small machine.
"""

import os

wsgi_app = "wsgi:app"
bind = os.environ.get("GUNICORN_BIND") or f"{os.environ.get('DEMO_HOST', '127.0.0.1')}:{os.environ.get('DEMO_PORT') or os.environ.get('PORT') or 8000}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 5  # Ctrl-C on the demo should not wait long for idle keep-alive clients
# Import the app once, in the master, before forking the workers: every worker then has
# the same password hashes and session key, so a session is valid whichever one answers.
preload_app = True
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None  # "-" for stdout
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
# Behind a reverse proxy that sets X-Forwarded-*, list its address here (or "*" when only
# the proxy can reach gunicorn) so url_for builds https:// links.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "clinic-web"
