"""Schemathesis hooks for the Bookstore API (loaded through SCHEMATHESIS_HOOKS by scripts/schemathesis/run).

- Signs in as the admin, and signs in again whenever a request is answered 401: the run
  changes the admin itself (PATCH /users/{id} with a new password, PUT /auth/me/password,
  POST /auth/logout), which ends its sign-ins by design. Before each sign-in the password is
  set back and any lock-out lifted with the CLI (which works beside the running server, as an
  operator's would), so the hook never signs in with a password the run has changed: its own
  sign-ins never fail, and never count against the account.
- Signs in from an address of its own (X-Forwarded-For, through the loopback proxy the script
  trusts): the run's own /auth/login cases fail on purpose and, from their address, soon wait
  under the per-address sign-in throttle, as they should; the hook's sign-ins stand for a
  different client and are not held up by them.
- Generates values for the document's own formats, which say what a schema cannot:
  `isbn` (a random string of digits almost never has a valid check digit, and the server
  rightly refuses those), `password` (common and easily guessed passwords are refused, as
  the document says) and `cursor` (only a cursor the server issued is valid: a made-up one
  is rightly a 422; the run sends none, and the stateful phase follows the ones it gets).
- Keeps the pairs of GET /books parameters in order (year_from <= year_to, price_min <=
  price_max) and sends sort=relevance only with q: rules between parameters, which the
  document states in words and JSON Schema cannot.
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


# A documentation address (RFC 5737): the client the hook's sign-ins come from.
HOOK_CLIENT = "192.0.2.10"


def _login():
    return requests.post(
        f"{BASE}/auth/login",
        json={"username": "admin", "password": PASSWORD},
        headers={"X-Forwarded-For": HOOK_CLIENT},
        timeout=30,
    )


def _cli(*args, stdin=None):
    subprocess.run([BINARY, *args], input=stdin, env=CLI_ENV, check=True, capture_output=True, text=True, timeout=60)


def _repair_admin():
    """Puts the admin's password back as the run found it and lifts any lock-out."""
    _cli("user", "reset-password", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    _cli("user", "unlock", "admin")


@schemathesis.auth(refresh_interval=600)
class AdminToken:
    def get(self, case, context):
        with _lock:
            _repair_admin()
            response = _login()
            if response.status_code != 200:
                raise RuntimeError(f"admin sign-in answered {response.status_code}: {response.text}")
            return response.json()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _isbn13():
    digits = [9, 7, 8] + [random.randrange(10) for _ in range(9)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits + [check]))


WORDS = ["velvet", "tram", "orbit", "quinoa", "saffron", "lighthouse", "kettle", "marble",
         "cobalt", "thistle", "lantern", "meadow", "quartz", "harbour", "juniper", "falcon"]

schemathesis.openapi.format("isbn", st.builds(_isbn13))
schemathesis.openapi.format(
    "password",
    st.lists(st.sampled_from(WORDS), min_size=4, max_size=6, unique=True).map(" ".join),
)
schemathesis.openapi.format("cursor", st.just(""))


@schemathesis.hook
def map_query(ctx, query):
    if not query or ctx.operation.path != "/books":
        return query
    for low, high in (("year_from", "year_to"), ("price_min", "price_max")):
        a, b = query.get(low), query.get(high)
        if isinstance(a, int) and isinstance(b, int) and a > b:
            query[low], query[high] = b, a
    if query.get("sort") == "relevance" and not str(query.get("q") or "").strip():
        del query["sort"]
    return query
