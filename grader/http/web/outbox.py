"""Mail from the pages, written as .eml files to a local outbox folder (`Settings.resolved_outbox_dir`):
on one machine nothing else is needed, and a mail relay (or a person) can pick them up from there."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from grader.config import Settings


def sender(settings: Settings) -> str:
    host = urlsplit(settings.public_url).hostname or "localhost"
    return f"Grader <no-reply@{host}>"


def write_mail(settings: Settings, to: str, subject: str, body: str) -> Path:
    """The mail as `<outbox>/<unix time>-<random>.eml`, appearing atomically (a reader never sees half)."""
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=urlsplit(settings.public_url).hostname or "localhost")
    message.set_content(body)
    outbox = settings.resolved_outbox_dir
    outbox.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=".mail-", suffix=".tmp", dir=outbox)
    with os.fdopen(fd, "wb") as handle:
        handle.write(message.as_bytes())
    os.chmod(scratch, 0o600)
    target = outbox / f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
    os.replace(scratch, target)
    return target
