"""Sends the queued e-mail receipts over SMTP, with retries; never blocks the till.

Each e-mail's ``Message-ID`` derives from its sale, so one resent after a crash (sent, but
not yet marked sent) is recognisable as the same message. Failures back off exponentially
(5 s doubling, at most an hour); after ``MAX_ATTEMPTS`` the e-mail is marked failed and
shows in the sale's e-mail state. A refusal by the server for this address (5xx) fails at
once: retrying cannot help.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate

from store_agent.settings import SmtpSettings
from store_agent.sqlite_store import LocalStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
FIRST_DELAY = 5.0
MAX_DELAY = 3600.0


def build_message(row: dict[str, str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = row["sender"]
    message["To"] = row["to_addr"]
    message["Subject"] = row["subject"]
    message["Date"] = formatdate(localtime=False)
    domain = row["sender"].rpartition("@")[2] or "tessera.invalid"
    message["Message-ID"] = f"<receipt-{row['sale_uuid']}@{domain}>"
    message.set_content(row["body"])
    if row.get("logo_png"):
        message.add_attachment(base64.b64decode(row["logo_png"]), maintype="image",
                               subtype="png", filename="logo.png")
    return message


class Mailer:
    def __init__(self, store: LocalStore, smtp: SmtpSettings,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 poll: float = 2.0) -> None:
        self.store = store
        self.smtp = smtp
        self.clock = clock
        self.poll = poll
        self.stopping = threading.Event()
        self._wake = threading.Event()

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.send_due()
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("mailer pass failed")
            self._wake.wait(self.poll)
            self._wake.clear()

    def send_due(self) -> int:
        """Send every e-mail that is due; returns how many were sent."""
        now = self.clock()
        with self.store.read() as conn:
            rows = [dict(r) for r in conn.execute(
                "SELECT * FROM email_outbox WHERE state = 'queued' AND next_attempt_at <= ? "
                "ORDER BY id LIMIT 50", (now.isoformat(),))]
        sent = 0
        for row in rows:
            if self.stopping.is_set():
                break
            try:
                self._send(build_message(row))
            except smtplib.SMTPRecipientsRefused as exc:
                self._failed(row, f"the server refused the address: {exc.recipients}",
                             final=True)
            except (smtplib.SMTPException, OSError) as exc:
                self._failed(row, f"{exc.__class__.__name__}: {exc}", final=False)
            else:
                with self.store.write() as conn:
                    conn.execute("UPDATE email_outbox SET state = 'sent', sent_at = ?, "
                                 "attempts = attempts + 1, last_error = NULL WHERE id = ?",
                                 (self.clock().isoformat(), row["id"]))
                sent += 1
        return sent

    def _send(self, message: EmailMessage) -> None:
        smtp = self.smtp
        if smtp.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)

    def _failed(self, row: dict[str, str], error: str, final: bool) -> None:
        attempts = int(row["attempts"]) + 1
        give_up = final or attempts >= MAX_ATTEMPTS
        delay = min(FIRST_DELAY * 2 ** (attempts - 1), MAX_DELAY)
        log.warning("e-mail receipt of sale %s to %s: %s%s", row["sale_uuid"], row["to_addr"],
                    error, " (giving up)" if give_up else f" (retry in {delay:.0f} s)")
        with self.store.write() as conn:
            conn.execute("UPDATE email_outbox SET attempts = ?, last_error = ?, state = ?, "
                         "next_attempt_at = ? WHERE id = ?",
                         (attempts, error, "failed" if give_up else "queued",
                          (self.clock() + dt.timedelta(seconds=delay)).isoformat(),
                          row["id"]))
