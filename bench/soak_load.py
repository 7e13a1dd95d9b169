#!/usr/bin/env python3
"""Mixed load for bench/soak.sh: reveals (~70 %), record reads (~17 %), sign-ins (~3 %: a staff
member's password through the sign-in page, answered 303 to the next step) and lifecycle moves
of new records (~10 %: create, then burned, then shipped), spread round robin over one or more
`tokendesk serve` instances (a request no instance answers moves on to the next, as a load
balancer would), for a fixed duration. Every request is one CSV line: start time (s since the
run began), instance, kind, HTTP status (0: no answer), latency in ms, and for reveals the
ticket, so the soak can check afterwards that every answered reveal is in the audit trail.

    soak_load.py DURATION_S THREADS OUT.csv TOKEN IDS_FILE STAFF_FILE URL [URL ...]

STAFF_FILE holds one "username password" line per staff member the sign-ins use.
"""
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import uuid

duration, threads, out_path, token, ids_path, staff_path = (
    float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
urls = sys.argv[7:]
ids = [line.strip() for line in open(ids_path) if line.strip()]
staff = [tuple(line.split(" ", 1)) for line in open(staff_path).read().splitlines() if line]
start = time.monotonic()
# The wall-clock moment of t = 0, for bench/soak.sh to time its faults on the same axis.
with open(out_path + ".start", "w") as f:
    f.write(f"{time.time():.6f}\n")
lock = threading.Lock()
out = open(out_path, "w")
out.write("t,instance,kind,status,ms,ticket\n")
SEED = "JBSWY3DPEHPK3PXP"


class Conn:
    """One keep-alive connection per thread and instance, reopened after any failure."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.c = None

    def request(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + token}
        data = None
        if isinstance(body, str):
            # A page form: no API key.
            data = body
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        elif body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                payload = r.read()
                return r.status, payload
            except (OSError, http.client.HTTPException):
                if self.c is not None:
                    self.c.close()
                self.c = None
                if attempt == 1:
                    return 0, b""
        return 0, b""


def log(instance, kind, status, t0, ticket=""):
    ms = (time.monotonic() - t0) * 1000
    with lock:
        out.write(f"{t0 - start:.3f},{instance},{kind},{status},{ms:.2f},{ticket}\n")


class Balancer:
    """Round robin over the instances; a request no instance answered (connection refused or
    dropped) goes to the next one, as a load balancer in front of them would do."""

    def __init__(self):
        self.conns = [Conn(u) for u in urls]
        self.last = 0

    def request(self, first, method, path, body=None):
        for k in range(len(self.conns)):
            self.last = (first + k) % len(self.conns)
            status, payload = self.conns[self.last].request(method, path, body)
            if status != 0:
                break
        else:
            # Nobody answered: back off a little, as a client would, instead of spinning on
            # refused connections (each failure is still logged).
            time.sleep(0.05)
        return status, payload


def worker(n):
    rng = random.Random(n)
    lb = Balancer()
    i = n
    while time.monotonic() - start < duration:
        i += 1
        inst = i % len(urls)

        class C:
            @staticmethod
            def request(method, path, body=None):
                return lb.request(inst, method, path, body)

        c = C
        roll = rng.random()
        if roll < 0.70:
            ticket = "SOAK-" + uuid.uuid4().hex[:12]
            rid = rng.choice(ids)
            t0 = time.monotonic()
            status, _ = c.request("POST", f"/api/v1/records/{rid}/reveal", {
                "verification": "call-back", "outcome": "passed", "ticket": ticket,
                "purpose": "read-out"})
            log(inst, "reveal", status, t0, ticket)
        elif roll < 0.87:
            t0 = time.monotonic()
            status, _ = c.request("GET", f"/api/v1/records/{rng.choice(ids)}")
            log(inst, "read", status, t0)
        elif roll < 0.90:
            # A sign-in's first factor (Argon2id at the production cost): right password, 303
            # to the next step (the password change a one-time password asks for).
            name, password = rng.choice(staff)
            t0 = time.monotonic()
            status, _ = c.request("POST", "/login", urllib.parse.urlencode(
                {"username": name, "password": password}))
            log(inst, "signin", status, t0)
        else:
            upn = f"soak-{uuid.uuid4().hex[:12]}@contoso.com"
            t0 = time.monotonic()
            status, payload = c.request("POST", "/api/v1/records", {"upn": upn, "secret": SEED})
            log(inst, "create", status, t0)
            if status != 201:
                continue
            rid = json.loads(payload)["id"]
            for to in ("burned", "shipped"):
                t0 = time.monotonic()
                status, _ = c.request("POST", f"/api/v1/records/{rid}/transition", {"to": to})
                log(inst, "move", status, t0)
                if status != 200:
                    break


workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
out.close()
