"""A stand-in SMS gateway: messages go to ``outbox/sms.log`` instead of a provider.

It refuses what real gateways refuse (numbers with no such country code), so failed jobs
in the demo carry the kind of error a clinic actually sees.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


class SmsGatewayError(RuntimeError):
    """The gateway refused the message (the job fails; retrying will not help)."""


def send(outbox_dir: Path, phone: str, message: str) -> str:
    """Deliver one SMS; returns the gateway's message id."""
    # +999 is not an assigned country calling code: the gateway answers like Twilio's 21211.
    if phone.startswith("+999"):
        raise SmsGatewayError(f"21211 Invalid 'To' phone number: {phone}")
    outbox_dir.mkdir(parents=True, exist_ok=True)
    sent_at = dt.datetime.now(dt.timezone.utc)
    message_id = f"SM{sent_at:%Y%m%d%H%M%S%f}"
    line = json.dumps({"id": message_id, "to": phone, "body": message,
                       "sent_at": sent_at.isoformat()})
    with open(outbox_dir / "sms.log", "a", encoding="utf-8") as log:
        log.write(line + "\n")
    return message_id
