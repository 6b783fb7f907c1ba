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
  the document says).
- Sends what a client following the document's words sends where JSON Schema cannot say it
  (before_call): cursors only as issued, references only to what exists, parameter pairs in
  order, the current password where it is asked for, a fresh Idempotency-Key per request. Each of
  these is a 422 the server rightly gives; only values of the right type are replaced, so
  requests meant to break the schema still break it.

GET /events (a Server-Sent Events stream that never ends by itself) is not run at all: see
exception 8 in ./run, which leaves it out with --exclude-path.
"""

import ast
import json
import os
import random
import re
import subprocess
import threading
import types
import uuid

import requests
import schemathesis
from hypothesis import strategies as st
from hypothesis.internal import lambda_sources

# Python 3.11.7 (the venv's) keeps the AST conversion's recursion depth in state shared by
# threads (CPython gh-106905, fixed in 3.11.8): two workers describing a filter's lambda at
# once (Hypothesis parses its source with ast.parse) fail with "AST constructor recursion
# depth mismatch", a runtime error of the harness, not of the API. One parse at a time.
_AST_LOCK = threading.Lock()


def _serial_parse(*args, **kwargs):
    with _AST_LOCK:
        return ast.parse(*args, **kwargs)


_serial_ast = types.SimpleNamespace(**{name: getattr(ast, name) for name in dir(ast) if not name.startswith("__")})
_serial_ast.parse = _serial_parse
lambda_sources.ast = _serial_ast

BASE = os.environ["BOOKSTORE_BASE_URL"]
BINARY = os.environ["BOOKSTORE_BINARY"]
PASSWORD = os.environ["BOOKSTORE_ADMIN_PASSWORD"]
# The CLI needs the same store as the server: DATABASE_URL or BOOKSTORE_DATA_DIR are passed on.
CLI_ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "DATABASE_URL", "BOOKSTORE_DATA_DIR", "BOOKSTORE_KEK")}

_lock = threading.Lock()
# The admin's password as the server now holds it: the run changes it (PUT /auth/me/password,
# PATCH /users/{own id}), and changing one's own password keeps the session that made the
# change, so the hook follows each change it sees answered 2xx. One such change at a time
# (held from before_call to after_call, and by a sign-in's repair): two in flight with the
# same current password would have the second rightly refused as "is wrong".
_password_lock = threading.Lock()
_password = {"current": PASSWORD, "admin_id": None}
_holding = threading.local()


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
            # A sign-in can come while this thread holds the password lock (a re-sign-in on
            # 401 before after_call); elsewhere it waits for a change in flight to finish.
            held_here = getattr(_holding, "lock", False)
            acquired = not held_here and _password_lock.acquire(timeout=60)
            try:
                _repair_admin()
                _password["current"] = PASSWORD
                response = _login()
            finally:
                if acquired:
                    _password_lock.release()
            if response.status_code != 200:
                raise RuntimeError(f"admin sign-in answered {response.status_code}: {response.text}")
            token = response.json()["access_token"]
            me = requests.get(f"{BASE}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            if me.status_code == 200:
                _password["admin_id"] = me.json().get("id")
            # The user of the document's sign-in example, so that the example signs in (201,
            # or 409 once it exists).
            requests.post(
                f"{BASE}/users",
                json={"username": "clerk", "password": "saffron lighthouse kettle", "role": "staff"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _isbn13(body):
    digits = [9, 7, 8] + body
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits + [check]))


WORDS = ["velvet", "tram", "orbit", "quinoa", "saffron", "lighthouse", "kettle", "marble",
         "cobalt", "thistle", "lantern", "meadow", "quartz", "harbour", "juniper", "falcon"]

schemathesis.openapi.format("isbn", st.lists(st.integers(0, 9), min_size=9, max_size=9).map(_isbn13))
schemathesis.openapi.format(
    "password",
    st.lists(st.sampled_from(WORDS), min_size=4, max_size=6, unique=True).map(" ".join),
)


# What the server has issued in this run: ids of the genres and authors it created, and the
# `next_cursor` of each list it answered, by the request they belong to.
ISSUED = {"genres": set(), "authors": set()}
# Each genre's parent as last answered, so that a new parent never makes a cycle (rightly a 422).
PARENTS = {}
CURSORS = {}
# Users a PATCH enabled again (after a DELETE, which disables them).
ENABLED_AGAIN = set()
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")
MAX_KEY = 255


def _listing(case):
    query = {k: v for k, v in (case.query or {}).items() if k != "cursor"}
    return (case.path, case.formatted_path, json.dumps(query, sort_keys=True, default=str))


def _integer(value):
    """A query value as the server reads it: an integer, or its decimal text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        return int(value)
    return None


def _issued_or_none(kind, value):
    """An id the server issued in place of a made-up one (a made-up one is rightly a 422)."""
    if isinstance(value, str) and UUID.match(value) and value not in ISSUED[kind]:
        return random.choice(sorted(ISSUED[kind])) if ISSUED[kind] else None
    return value


def _own_id(case):
    return _password["admin_id"] is not None and case.formatted_path.rsplit("/", 1)[-1] == _password["admin_id"]


def _changes_own_password(case, body):
    """A request that changes the admin's own password, with a current password of the right
    type (null or a string) to put the real one in."""
    if not body or not isinstance(body.get("current_password", ""), (str, type(None))):
        return False
    method = case.method.upper()
    if case.path == "/auth/me/password" and method == "PUT":
        return isinstance(body.get("new_password"), str) and isinstance(body.get("current_password"), str)
    return case.path == "/users/{id}" and method == "PATCH" and _own_id(case) and isinstance(body.get("password"), str)


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Makes the run's requests those of a client that follows the document's words where
    JSON Schema cannot carry them. Only values of the right type are replaced, so a request
    that breaks the schema still breaks it."""
    query = case.query if isinstance(case.query, dict) else None
    body = case.body if isinstance(case.body, dict) else None
    # A cursor is valid only as the server issued it, for the same request.
    if query and isinstance(query.get("cursor"), str) and query["cursor"]:
        issued = CURSORS.get(_listing(case))
        if issued is None:
            del query["cursor"]
        else:
            query["cursor"] = issued
    # Pairs of GET /books parameters in order; relevance only with a text to rank by.
    if query and case.path in ("/books", "/books/export"):
        for low, high in (("year_from", "year_to"), ("price_min", "price_max")):
            a, b = _integer(query.get(low)), _integer(query.get(high))
            if a is not None and b is not None and a > b:
                query[low], query[high] = query[high], query[low]
        if query.get("sort") == "relevance" and not str(query.get("q") or "").strip():
            del query["sort"]
    # References name what exists.
    if body and case.path.startswith("/genres") and "parent_id" in body:
        body["parent_id"] = _issued_or_none("genres", body["parent_id"])
        own = case.formatted_path.rsplit("/", 1)[-1]
        ancestor, seen = body["parent_id"], set()
        while isinstance(ancestor, str) and ancestor not in seen:
            if ancestor == own:
                body["parent_id"] = None
                break
            seen.add(ancestor)
            ancestor = PARENTS.get(ancestor)
    # A shelf is inside a location, and stores and warehouses are inside none (the document's
    # words on `parent_id`): a shelf without a parent is put in the default location.
    if body and case.path == "/locations" and case.method.upper() == "POST":
        if body.get("kind") == "shelf" and body.get("parent_id") is None:
            body["parent_id"] = DEFAULT_LOCATION
        elif body.get("kind") in ("store", "warehouse") and "parent_id" in body:
            del body["parent_id"]
    if body and case.path.startswith("/books") and isinstance(body.get("authors"), list):
        for i, author in enumerate(body["authors"]):
            if isinstance(author, dict) and "id" in author:
                author["id"] = _issued_or_none("authors", author["id"])
                if author["id"] is None:
                    del author["id"]
                    author.setdefault("name", "J. R. R. Tolkien")
            elif isinstance(author, str) and UUID.match(author):
                body["authors"][i] = _issued_or_none("authors", author) or "J. R. R. Tolkien"
    # Names are matched trimmed and ignoring case, so "Le Guin" and "le guin " are one name
    # listed twice (rightly a 422): keep the first of each.
    for field in ("authors", "genres"):
        if body and case.path.startswith("/books") and isinstance(body.get(field), list):
            seen, kept = set(), []
            for item in body[field]:
                name = item.get("name") if isinstance(item, dict) else item
                # Both parts as text: in a request meant to break the schema, a name or a
                # role can be any JSON value, lists and objects included.
                role = item.get("role", "author") if isinstance(item, dict) else "author"
                key = (" ".join(name.split()).casefold() if isinstance(name, str) else json.dumps(name, default=str),
                       role if isinstance(role, str) else json.dumps(role, sort_keys=True, default=str))
                if key not in seen:
                    seen.add(key)
                    kept.append(item)
            body[field] = kept
    if body and case.path.startswith("/books") and isinstance(body.get("genres"), list):
        body["genres"] = [
            (_issued_or_none("genres", g) or "Fantasy") if isinstance(g, str) and UUID.match(g) else g
            for g in body["genres"]
        ]
        if body["genres"] and len(set(map(str, body["genres"]))) < len(body["genres"]):
            body["genres"] = list(dict.fromkeys(body["genres"]))
    # Changing one's own password takes the current one, which only the client knows: on
    # PUT /auth/me/password, and on PATCH /users/{own id} when it sets a password (the
    # document: "Changing your own password needs current_password").
    if _changes_own_password(case, body):
        if not getattr(_holding, "lock", False):
            _holding.lock = _password_lock.acquire(timeout=60)
        body["current_password"] = _password["current"]
    # A fresh key per request, as a client makes one for each new operation and reuses it only
    # to retry that operation: the run never retries, and a key it generated again (the same
    # example for two books, the same body after its book was deleted in a stateful run)
    # would rightly be a 422 (another request) or a replay of the first answer (a book since
    # deleted). Only a key that is valid stays valid: one the run made too long or otherwise
    # wrong is sent as it is.
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and KEY.match(key) and len(key) <= MAX_KEY:
        headers["Idempotency-Key"] = f"{key[:MAX_KEY - 33]}-{uuid.uuid4().hex}"


# The location every store has from the start (migration 0011/0010: code `main`).
DEFAULT_LOCATION = "00000000-0000-7000-8000-000000000001"
LOCATION_TREE_RULES = ("default location", "must be absent for a store or a warehouse",
                       "is required for a shelf")

IF_MATCH_WRITES = {("/books/{id}", "PUT"), ("/books/{id}", "PATCH"), ("/books/{id}", "DELETE"),
                   ("/stocktakes/{id}/commit", "POST")}

# The requests that name other resources by code or id in their query or body (a location,
# a book, a parent location), and the start of the message their 422 gives when the named one
# does not exist.
REFERENCING = {("/reorder-suggestions", "GET"), ("/stocktakes", "POST"),
               ("/stocktakes/{id}/counts", "POST"), ("/locations", "POST"),
               ("/locations/{id}", "PATCH"), ("/books/{id}/stock-movements", "POST")}
UNKNOWN_REFERENCE = ("no location", "no book with id", "no book with ISBN")


def _errors(response):
    try:
        body = response.json()
    except (ValueError, AttributeError):
        return None, []
    if not isinstance(body, dict):
        return None, []
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    return body, [e for e in errors if isinstance(e, dict)]


def _made_up_etag(case):
    value = (case.headers or {}).get("If-Match")
    return isinstance(value, str) and value.strip() != "*"


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """The exceptions: answers that are right although a check expects another. Each keeps
    the failure unless the request and the answer are exactly the ones named."""
    operation = (case.path, case.method.upper())
    status = response.status_code
    reads_if_match = operation in IF_MATCH_WRITES or operation == ("/books/{id}/stock-movements", "POST")
    # Exception 1, a made-up If-Match: the run cannot know a book's current ETag, so valid
    # data with a tag it invented is a stale write, and 412 Precondition Failed is the right
    # answer (RFC 9110 13.1.1), nothing changed. The precondition is checked before the body,
    # so invalid data with such a tag gets 412 too.
    if failure.code in ("ST202", "ST201") and status == 412 and reads_if_match and _made_up_etag(case):
        return False
    # Exception 2, If-Match missing on a book write: the document marks it required, and
    # 428 Precondition Required (RFC 6585 3) is the answer a request without it gets.
    if failure.code in ("ST202", "ST203") and status == 428 and operation in IF_MATCH_WRITES \
            and "If-Match" not in (case.headers or {}):
        return False
    # Exception 6, an invalid Idempotency-Key the transport never sent: an empty header value
    # is dropped on the way out, so the server saw a create without a key and created (201 is
    # right for that request). Kept only when the request as sent has no such header; the
    # server's answer to a key that does arrive invalid is tested in tests/api (400).
    if failure.code == "ST201" and status == 201 and "Idempotency-Key" in (case.headers or {}):
        sent = getattr(getattr(response, "request", None), "headers", None)
        if sent is not None and "Idempotency-Key" not in sent:
            return False
    # Exception 7, a movement past the largest quantity: the bound is on the stock after the
    # movement (issue 11 §1.6: 422 on `quantity`), which depends on the stock on hand, which no
    # schema of the request can know, like the 409 for too little stock. Kept only for that
    # one error on that one field.
    if failure.code == "ST202" and status == 422 and operation == ("/books/{id}/stock-movements", "POST"):
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        if len(errors) == 1 and errors[0].get("field") == "quantity" \
                and "past the largest quantity" in str(errors[0].get("message", "")):
            return False
    # Exception 9, a reference to what does not exist: a location code or id, a book id or a
    # parent location the run made up. Like an unknown author id on a book (whose 422 the
    # run avoids by sending issued ids), no schema can know which codes and ids exist. Kept
    # only when every error is such a reference.
    if failure.code == "ST202" and status == 422 and operation in REFERENCING:
        _, errors = _errors(response)
        if errors and all(str(e.get("message", "")).startswith(UNKNOWN_REFERENCE) for e in errors):
            return False
    # Exception 10, the shape of the location tree on PATCH /locations/{id}: the default
    # location stays a top-level one, a shelf needs a parent and a store or warehouse has
    # none. A merge patch changes one field of a location the run cannot see, so whether
    # `kind` and `parent_id` fit together depends on the stored location.
    if failure.code == "ST202" and status == 422 and operation == ("/locations/{id}", "PATCH"):
        _, errors = _errors(response)
        if errors and all(any(rule in str(e.get("message", "")) for rule in LOCATION_TREE_RULES)
                          for e in errors):
            return False
    # Exception 13, a transfer from a location to itself: the two fields must differ, a rule
    # between two fields that JSON Schema cannot state.
    if failure.code == "ST202" and status == 422 and operation == ("/books/{id}/stock-movements", "POST"):
        _, errors = _errors(response)
        if errors and all(e.get("field") == "to_location"
                          and "must differ from from_location" in str(e.get("message", "")) for e in errors):
            return False
    # Exception 11, an import file without a header row: the body is a CSV or ONIX file, whose
    # content no schema of a text body describes; an empty or headless one is refused (422,
    # invalid-import-file) before anything is recorded.
    if failure.code == "ST202" and status == 422 and operation == ("/imports", "POST"):
        body, _ = _errors(response)
        if body and str(body.get("type", "")).endswith("/invalid-import-file"):
            return False
    # Exception 12, a cancelled stocktake: DELETE /stocktakes/{id} cancels the count, and the
    # cancelled stocktake stays readable (the record of a count that was begun), so 200 with
    # `state: cancelled` is right there.
    if failure.code == "ST301" and status == 200 and operation == ("/stocktakes/{id}", "GET"):
        body, _ = _errors(response)
        if body and body.get("state") == "cancelled":
            return False
    # Exception 14, a webhook URL with a private address: an IPv4 literal that is loopback,
    # private, link-local or otherwise not public is refused unless the server allows private
    # targets (BOOKSTORE_WEBHOOK_ALLOW_PRIVATE, off here), as the document's description of
    # `url` says; which addresses are public is a table no pattern states. Kept only when every
    # error is that refusal on `url`.
    if failure.code == "ST202" and status == 422 and operation in (("/webhooks", "POST"), ("/webhooks/{id}", "PATCH")):
        _, errors = _errors(response)
        if errors and all(e.get("field") == "url" and "only public addresses are allowed" in str(e.get("message", ""))
                          for e in errors):
            return False
    # Exception 15, a merge patch of a shelf without `parent_id`: LocationPatch requires no
    # property (RFC 7396: what is left out stays), yet the coverage phase of Schemathesis
    # 4.32.5 sent it as "missing required property: parent_id" (the served document marks
    # nothing required there). A shelf keeps its stored parent, so 200 is right. Kept only for
    # that claim on that operation, when the answer is a shelf with its parent.
    if failure.code == "ST201" and status == 200 and operation == ("/locations/{id}", "PATCH") \
            and "Missing required property: parent_id" in str(getattr(failure, "message", "")):
        body, _ = _errors(response)
        if body and body.get("kind") == "shelf" and body.get("parent_id"):
            return False
    # Exception 3, the history of a deleted book: API.md promises it stays readable after
    # DELETE /books/{id} (an audit trail that outlives the book), so 200 is right there.
    if failure.code == "ST301" and operation == ("/books/{id}/history", "GET") and status == 200:
        return False
    # Exception 4, the stock movements of a deleted book: like its history they are the
    # record of what happened (the store's port: "readable after the book is deleted"; the
    # document's 404 is for a book that never existed), so 200 is right there.
    if failure.code == "ST301" and operation == ("/books/{id}/stock-movements", "GET") and status == 200:
        return False
    # Exception 5, a "deleted" user: DELETE /users/{id} disables the account (API.md: admins
    # "disable" users; the account stays so that the actors of history and stock movements
    # still name someone), and the disabled user is still read (GET) and can be changed or
    # enabled again (PATCH). Only when the answer is that same user, disabled, or enabled
    # again by this PATCH or an earlier one answered 200.
    if failure.code == "ST301" and status == 200 and operation in (("/users/{id}", "GET"), ("/users/{id}", "PATCH")):
        try:
            user = response.json()
        except ValueError:
            user = None
        own_id = case.formatted_path.rsplit("/", 1)[-1]
        body = case.body if isinstance(case.body, dict) else {}
        if isinstance(user, dict) and user.get("id") == own_id \
                and (user.get("disabled") is True or body.get("disabled") is False or own_id in ENABLED_AGAIN):
            return False
    return True


@schemathesis.hook
def after_call(ctx, case, response):
    if getattr(_holding, "lock", False):
        body = case.body if isinstance(case.body, dict) else {}
        if 200 <= response.status_code < 300:
            _password["current"] = body.get("new_password") or body.get("password") or _password["current"]
        _holding.lock = False
        _password_lock.release()
    if case.path == "/users/{id}" and case.method.upper() == "PATCH" and response.status_code == 200 \
            and isinstance(case.body, dict) and case.body.get("disabled") is False:
        ENABLED_AGAIN.add(case.formatted_path.rsplit("/", 1)[-1])
    if case.method.upper() == "DELETE" and response.status_code == 204:
        gone = case.formatted_path.rsplit("/", 1)[-1]
        ENABLED_AGAIN.discard(gone)
        for kind in ISSUED:
            ISSUED[kind].discard(gone)
        return
    if response.status_code >= 300:
        return
    try:
        data = response.json()
    except Exception:
        return
    if not isinstance(data, dict):
        return
    for kind in ("genres", "authors"):
        if case.path.startswith(f"/{kind}"):
            items = data.get("items") if isinstance(data.get("items"), list) else [data]
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    ISSUED[kind].add(item["id"])
                    if kind == "genres":
                        PARENTS[item["id"]] = item.get("parent_id")
    if isinstance(data.get("next_cursor"), str):
        CURSORS[_listing(case)] = data["next_cursor"]
