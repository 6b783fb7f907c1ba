"""Schemathesis hooks for the Bookstore API (loaded through SCHEMATHESIS_HOOKS by scripts/schemathesis/run).

- Signs in as the admin, and signs in again whenever a request is answered 401: the run
  changes the admin itself (PATCH /users/{id} with a new password or a role, PUT
  /auth/me/password, POST /auth/logout), which ends its sign-ins by design. When the known
  password no longer works (the run reset it) or the account is locked out by the run's own
  wrong-password sign-ins, the password is set back and the lock lifted with the CLI, which
  works beside the running server, exactly as an operator would.
- Generates valid ISBNs for the document's `isbn` format: a random string of digits almost
  never has a valid check digit, and the server rightly refuses those.
"""

import os
import random
import subprocess
import threading

import requests
import schemathesis
from hypothesis import strategies as st

BASE = os.environ["BOOKSTORE_BASE_URL"]
BINARY = os.environ["BOOKSTORE_BINARY"]
PASSWORD = os.environ["BOOKSTORE_ADMIN_PASSWORD"]
# The CLI needs the same store as the server: DATABASE_URL or BOOKSTORE_DATA_DIR are passed on.
CLI_ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "DATABASE_URL", "BOOKSTORE_DATA_DIR", "BOOKSTORE_KEK")}

_lock = threading.Lock()
SIGN_INS = {"count": 0, "repairs": 0}


def _login():
    return requests.post(
        f"{BASE}/auth/login",
        json={"username": "admin", "password": PASSWORD},
        timeout=30,
    )


def _cli(*args, stdin=None):
    subprocess.run([BINARY, *args], input=stdin, env=CLI_ENV, check=True, capture_output=True, text=True, timeout=60)


def _repair_admin():
    """Puts the admin back as the run found it: its password, enabled, admin, not locked out."""
    SIGN_INS["repairs"] += 1
    _cli("user", "reset-password", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    _cli("user", "enable", "admin")
    _cli("user", "set-role", "admin", "admin")


@schemathesis.auth(refresh_interval=600)
class AdminToken:
    def get(self, case, context):
        with _lock:
            SIGN_INS["count"] += 1
            response = _login()
            if response.status_code != 200:
                _repair_admin()
                response = _login()
            response.raise_for_status()
            return response.json()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _isbn13():
    digits = [9, 7, 8] + [random.randrange(10) for _ in range(9)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits + [check]))


schemathesis.openapi.format("isbn", st.builds(_isbn13))
