"""Render the clinic's emails from Jinja2 templates and deliver them.

Delivery goes over SMTP when ``SMTP_URL`` is set (``smtp://user:pass@host:587`` uses
STARTTLS when the server offers it, ``smtps://host:465`` uses TLS from the start);
otherwise each message is written as an ``.eml`` file to the outbox folder, which any mail
client can open.
"""

from __future__ import annotations

import datetime as dt
import os
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "email"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
    # The HTML part gets escaping; the plain-text part must not (it would show &amp;).
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    # A missing context variable is a bug in the producer: fail the job loudly instead of
    # mailing a patient "Dear ,".
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class MailDeliveryError(RuntimeError):
    """The mail relay refused the message."""


def render(payload: dict[str, Any], mail_from: str) -> EmailMessage:
    """Build the message (plain text + HTML alternative) for a validated email payload."""
    context = {"subject": payload["subject"], **payload["context"]}
    name = payload["template"]
    text = _env.get_template(f"{name}.txt").render(context)
    html = _env.get_template(f"{name}.html").render(context)
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    message["Message-ID"] = make_msgid(domain="riverside-clinic.example")
    message["X-Clinic-Template"] = name
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def deliver(message: EmailMessage, *, smtp_url: str | None, outbox_dir: Path) -> str:
    """Send over SMTP, or write to the outbox; returns where it went (URL-ish, no password)."""
    if smtp_url:
        return _send_smtp(message, smtp_url)
    recipient = str(message["To"])
    # The outbox stands in for the relay, so it refuses what the relay would: the reserved
    # .invalid top-level domain never resolves (RFC 2606).
    if recipient.rstrip(">").endswith(".invalid"):
        raise MailDeliveryError(
            f"550 5.1.2 <{recipient}>: Recipient address rejected: Domain not found")
    outbox_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = outbox_dir / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(message))
    os.replace(tmp, path)  # a mail client watching the folder never sees half a file
    return f"file://{path}"


def _send_smtp(message: EmailMessage, smtp_url: str) -> str:
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps"):
        raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {url.scheme}://")
    host = url.hostname or "localhost"
    port = url.port or (465 if url.scheme == "smtps" else 25)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port, timeout=30, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=30)
    with client:
        if url.scheme == "smtp":
            client.ehlo()
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        try:
            client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailDeliveryError(f"recipient refused: {exc.recipients}") from exc
    return f"{url.scheme}://{host}:{port}"
