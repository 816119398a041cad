#!/usr/bin/env python3
"""A real SMTP server for the e-mail tests (server/tests/it/notify_smtp.rs): aiosmtpd
(PyPI, installed by tests/setup/smtp.sh) on a free loopback port, with STARTTLS required
before anything but EHLO/NOOP/QUIT, and AUTH (PLAIN, LOGIN) required before MAIL, offered
only over TLS. Each message accepted is delivered into a Maildir, as received (bytes
unchanged) under a `Return-Path:` and `Delivered-To:` an MDA would add.

    python3 tests/smtp/server.py --cert CERT.pem --key KEY.pem --maildir DIR \
        --user USER --password PASSWORD

Prints `PORT <n>` on one line once it listens, then serves until killed (or until its
standard input is closed, so a test that dies leaves no server behind).
"""

import argparse
import asyncio
import mailbox
import ssl
import sys
import logging

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# aiosmtpd 1.4 logs a warning about its own use of a deprecated field on every AUTH.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class MaildirDelivery:
    """Delivers every message into the Maildir as received."""

    def __init__(self, path):
        self.box = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server, session, envelope):
        head = "Return-Path: <{}>\r\nDelivered-To: {}\r\n".format(
            envelope.mail_from, ", ".join(envelope.rcpt_tos)
        ).encode()
        self.box.add(head + envelope.original_content)
        return "250 2.0.0 delivered to the Maildir"


class Passwords:
    """AUTH PLAIN/LOGIN against the one user and password."""

    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    a = p.parse_args()

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(a.cert, a.key)
    handler = MaildirDelivery(a.maildir)
    auth = Passwords(a.user, a.password)

    def factory():
        return SMTP(
            handler,
            hostname="smtp.test",
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=auth,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    # Serve until standard input is closed (the test ended, or died).
    closed = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(4096) or closed.set())
    await closed.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
