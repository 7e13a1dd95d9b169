#!/usr/bin/python3
"""Real SMTP servers (aiosmtpd) on loopback for tokendesk's e-mail tests; started by scripts/test.

    smtp_sink.py MAILDIR PLAIN_PORT STARTTLS_PORT MISMATCH_PORT CERT KEY MISMATCH_CERT MISMATCH_KEY

- PLAIN_PORT: plain SMTP, no authentication (a local relay).
- STARTTLS_PORT: STARTTLS required, then AUTH LOGIN/PLAIN required: user `tokendesk`, password
  `smtp-test-password`; the certificate names 127.0.0.1 (signed by the test CA).
- MISMATCH_PORT: STARTTLS with a certificate for another host name (signed by the same CA).

Every accepted message is written to MAILDIR as NNNN.eml (the raw message) and NNNN.json (the
envelope, whether TLS was on and who authenticated), so tests read what the server received.
"""
import asyncio
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = b"tokendesk"
PASSWORD = b"smtp-test-password"


class Sink:
    def __init__(self, maildir, name):
        self.maildir = maildir
        self.name = name
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = len([f for f in os.listdir(self.maildir) if f.endswith(".eml")])
            base = os.path.join(self.maildir, f"{n:04d}-{self.name}")
            with open(base + ".json.tmp", "w") as f:
                json.dump(
                    {
                        "server": self.name,
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": envelope.rcpt_tos,
                        "tls": session.ssl is not None,
                        "auth": (session.authenticated and USER.decode()) or None,
                    },
                    f,
                )
            with open(base + ".eml", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login == USER and auth_data.password == PASSWORD:
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


def context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    if len(sys.argv) != 9:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    maildir, plain, starttls, mismatch, cert, key, mcert, mkey = sys.argv[1:]
    os.makedirs(maildir, exist_ok=True)
    servers = [
        Controller(Sink(maildir, "plain"), hostname="127.0.0.1", port=int(plain)),
        Controller(
            Sink(maildir, "starttls"),
            hostname="127.0.0.1",
            port=int(starttls),
            tls_context=context(cert, key),
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
        ),
        Controller(
            Sink(maildir, "mismatch"),
            hostname="127.0.0.1",
            port=int(mismatch),
            tls_context=context(mcert, mkey),
            require_starttls=True,
        ),
    ]
    for s in servers:
        s.start()
    print("smtp sink ready", flush=True)
    try:
        threading.Event().wait()
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
