#!/usr/bin/env python3
"""Mail client steps of tests/it/mailflow.rs: one action per run, its outcome as one JSON line.

Only what the daemons answered is reported (SMTP reply codes, IMAP responses, the certificate a
port presents); the Rust test decides what is right. Every network operation has a timeout, and
every wait is bounded. TLS is verified against the stack's certificate (--cafile) and the host
name it was issued for (--hostname); only `cert` without --cafile reports what a port presents
unverified, for the test to compare with the API's certificate before trusting it.

  smtp    --port P --tls none|starttls|wrapper [--user U --password W] --sender F --to T [--to T2]
          --subject S [--header 'Name: value']
  login   --port P --user U --password W                      (IMAPS)
  find    --port P --user U --password W --subject S [--mailbox M] [--wait SECONDS]
  count   --port P --user U --password W --subject S [--mailbox M]
  cert    --port P --tls wrapper|starttls-smtp                (the presented certificate, PEM)
"""

import argparse
import email
import email.message
import email.utils
import hashlib
import imaplib
import json
import smtplib
import socket
import ssl
import sys
import time

TIMEOUT = 20


def context(args):
    if args.cafile is None:
        # Only `cert` runs without one: it reports what the port presents, for the test to compare
        # with the API's certificate before trusting it.
        return ssl._create_unverified_context()
    ctx = ssl.create_default_context(cafile=args.cafile)
    # A self-signed leaf trusted as its own anchor.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def out(**fields):
    print(json.dumps(fields))
    sys.exit(0)


def smtp(args):
    host = "127.0.0.1"
    stage = "connect"
    try:
        if args.tls == "wrapper":
            class Wrapped(smtplib.SMTP_SSL):
                def _get_socket(self, host, port, timeout):
                    self._host = args.hostname  # the name the certificate is checked against
                    return super()._get_socket(host, port, timeout)

            s = Wrapped(host, args.port, timeout=TIMEOUT, context=context(args))
        else:
            s = smtplib.SMTP(host, args.port, timeout=TIMEOUT)
            s._host = args.hostname  # the name starttls verifies
        with s:
            stage = "ehlo"
            s.ehlo("client.test")
            if args.tls == "starttls":
                stage = "starttls"
                s.starttls(context=context(args))
                s.ehlo("client.test")
            if args.user:
                stage = "auth"
                s.login(args.user, args.password)
            msg = email.message.EmailMessage()
            msg["From"] = args.sender
            msg["To"] = ", ".join(args.to)
            msg["Subject"] = args.subject
            msg["Message-ID"] = email.utils.make_msgid(domain="client.test")
            for h in args.header or []:
                name, value = h.split(":", 1)
                msg[name.strip()] = value.strip()
            msg.set_content("Sent by tests/it/mailflow.\n")
            stage = "mail"
            code, reply = s.mail(args.sender)
            if code != 250:
                out(ok=False, stage="mail", code=code, message=reply.decode(errors="replace"))
            for rcpt in args.to:
                stage = "rcpt"
                code, reply = s.rcpt(rcpt)
                if code not in (250, 251):
                    out(ok=False, stage="rcpt", code=code, message=reply.decode(errors="replace"))
            stage = "data"
            code, reply = s.data(msg.as_bytes())
            if code != 250:
                out(ok=False, stage="data", code=code, message=reply.decode(errors="replace"))
            out(ok=True, stage="done", code=code, message=reply.decode(errors="replace"))
    except smtplib.SMTPResponseException as e:
        out(ok=False, stage=stage, code=e.smtp_code, message=e.smtp_error.decode(errors="replace"))
    except (smtplib.SMTPException, OSError) as e:
        out(ok=False, stage=stage, code=0, message=f"{type(e).__name__}: {e}")


def imap_connect(args):
    """IMAPS with the stack's certificate checked against --hostname."""
    ctx = context(args)

    class Client(imaplib.IMAP4):
        def open(self, host="", port=993, timeout=None):
            self.host = host
            self.port = port
            raw = socket.create_connection((host, port), timeout)
            self.sock = ctx.wrap_socket(raw, server_hostname=args.hostname)
            self.file = self.sock.makefile("rb")

    c = Client("127.0.0.1", args.port, timeout=TIMEOUT)
    try:
        c.login(args.user, args.password)
    except imaplib.IMAP4.error as e:
        try:
            c.logout()
        except Exception:
            pass
        return None, str(e)
    return c, None


def search(c, args):
    typ, _ = c.select(f'"{args.mailbox}"', readonly=True)
    if typ != "OK":
        return []
    typ, data = c.search(None, "SUBJECT", f'"{args.subject}"')
    nums = data[0].split() if typ == "OK" and data and data[0] else []
    found = []
    for n in nums:
        typ, parts = c.fetch(n, "(BODY.PEEK[HEADER])")
        for p in parts:
            if isinstance(p, tuple):
                m = email.message_from_bytes(p[1])
                # SEARCH matches a substring; only the exact subject counts.
                if str(m["Subject"]) == args.subject:
                    found.append({k.lower(): str(v) for k, v in m.items()})
    return found


def login(args):
    try:
        c, err = imap_connect(args)
    except (OSError, imaplib.IMAP4.error) as e:
        out(ok=False, message=f"{type(e).__name__}: {e}")
    if c is None:
        out(ok=False, message=err)
    c.logout()
    out(ok=True, message="logged in")


def find(args, wait):
    deadline = time.monotonic() + wait
    last = "no attempt"
    while True:
        try:
            c, err = imap_connect(args)
            if c is None:
                last = f"login refused: {err}"
            else:
                found = search(c, args)
                c.logout()
                if found or wait == 0:
                    out(ok=True, count=len(found), headers=found)
                last = "not found"
        except (OSError, imaplib.IMAP4.error) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            out(ok=False, count=0, message=last)
        time.sleep(0.5)


def cert(args):
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    if args.tls == "starttls-smtp":
        f = raw.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline().decode()
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    return lines

        reply()
        raw.sendall(b"EHLO client.test\r\n")
        reply()
        raw.sendall(b"STARTTLS\r\n")
        r = reply()
        if not r[0].startswith("220"):
            out(ok=False, message="".join(r))
    tls = context(args).wrap_socket(raw, server_hostname=args.hostname)
    der = tls.getpeercert(binary_form=True)
    tls.close()
    out(ok=True, pem=ssl.DER_cert_to_PEM_cert(der), spki_sha256=spki_sha256(der))


def tlv(der, i):
    """(start of value, end of value) of the DER element at i."""
    n = der[i + 1]
    j = i + 2
    if n & 0x80:
        count = n & 0x7F
        n = int.from_bytes(der[j:j + count], "big")
        j += count
    return j, j + n


def spki_sha256(der):
    """SHA-256 of the certificate's subjectPublicKeyInfo (what the API's spki_sha256 hashes)."""
    i = tlv(der, 0)[0]  # tbsCertificate
    i = tlv(der, i)[0]  # its first field
    if der[i] == 0xA0:  # [0] version
        i = tlv(der, i)[1]
    for _ in range(5):  # serial, signature, issuer, validity, subject
        i = tlv(der, i)[1]
    return hashlib.sha256(der[i:tlv(der, i)[1]]).hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("action", choices=["smtp", "login", "find", "count", "cert"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile")
    p.add_argument("--hostname")
    p.add_argument("--tls", default="none")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--sender")
    p.add_argument("--to", action="append")
    p.add_argument("--subject")
    p.add_argument("--header", action="append")
    p.add_argument("--mailbox", default="INBOX")
    p.add_argument("--wait", type=float, default=30)
    args = p.parse_args()
    if args.action == "smtp":
        smtp(args)
    elif args.action == "login":
        login(args)
    elif args.action == "find":
        find(args, args.wait)
    elif args.action == "count":
        find(args, 0)
    else:
        cert(args)


if __name__ == "__main__":
    main()
