"""The broker catalogue: `catalogue.json` is the source of truth, the `brokers` table its copy.

Adding a broker is an entry in `catalogue.json` (and, for syncing, an integration class);
nothing here knows broker codes. Each entry's `credential_schema` is a JSON Schema (Draft
2020-12) describing the login fields: `format: password` marks a secret, which is prompted
without echo and never shown unmasked. `contentEncoding: base32` (JSON Schema's own keyword,
an annotation there) is checked here: the value must be RFC 4648 base32 (spaces, case and
padding as people copy TOTP secrets from a setup page), of at least `x-minBits` bits when
given: a TOTP secret that cannot compute a code is refused when stored, not at the sync.

Messages produced here never include a credential's value, only field names: a rejected
PIN must not end up in a terminal's scrollback or a log.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Insert, select, update

from wealth_pipeline import clock
from wealth_pipeline.marts.changes import record_mart_change
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import brokers, financial_accounts

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")
INTEGRATION_TYPES = ("fints", "rest", "graphql", "manual", "demo")
# Settings each integration type cannot work without (data-driven: no broker codes here).
REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    "fints": ("bank_identifier", "fints_server"),
    "rest": ("api_base_url",),
    "graphql": ("api_base_url",),
}
# How an account syncs: `unattended` (the daily run logs in alone; a bank may still ask for
# an approval now and then), `assisted` (every fresh login needs the person: an SMS code, a
# photoTAN, a fresh token; the daily run only reuses a session still alive and otherwise
# lists the account as waiting), `manual` (nothing to sync). `sync_note` says why.
SYNC_MODES = ("unattended", "assisted", "manual")
# A credential field a person gives again when they sync (a session token living minutes):
# `"x-renewed-at-sync": true` in its schema property. `wealth accounts auth` asks for it when
# the stored value no longer works, and stores the new one encrypted.
RENEWED_AT_SYNC = "x-renewed-at-sync"
MASK = "••••••"  # fixed length: reveals neither the value nor its length
FIELD_TYPES = ("string", "boolean", "integer")

_STRING_FIELDS = {
    "code": 40,
    "name": 200,
    # The usual currency of its accounts, taken when `accounts add` gets no --currency
    # (empty: the owner's base currency, as for manual accounts).
    "default_currency": 3,
    "integration_type": 20,
    "bank_identifier": 20,
    "fints_server": 500,
    "api_base_url": 500,
    "website_url": 500,
    "country": 2,
    "sync_mode": 12,
    "sync_note": 500,
}
_BOOLEAN_FIELDS = ("is_active", "supports_2fa", "supports_auto_sync")
ENTRY_FIELDS = (*_STRING_FIELDS, *_BOOLEAN_FIELDS, "credential_schema")
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_TYPE_WORDS = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


class CatalogueError(ValueError):
    """The catalogue fixture is malformed: every problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid broker catalogue:\n  " + "\n  ".join(problems))


class CredentialsInvalid(ValueError):
    """Credentials that do not fit the broker's schema: every problem, naming the field."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("invalid credentials: " + "; ".join(errors))


@dataclass(frozen=True)
class CredentialField:
    name: str
    title: str
    description: str
    type: str
    required: bool
    secret: bool
    default: Any = None
    renewed: bool = False  # given again at each assisted sync (RENEWED_AT_SYNC)


# --- the fixture ------------------------------------------------------------------------


def read_fixture(path: Path = CATALOGUE_PATH) -> list[dict[str, Any]]:
    """The catalogue entries of `path`, validated (raises CatalogueError with every problem)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError([f"{path}: {exc}"]) from None
    check_fixture(entries)
    return entries


def check_fixture(entries: Any) -> None:
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(["the catalogue must be a non-empty JSON list of brokers"])
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"entry {index}: must be an object")
            continue
        label = entry.get("code") if isinstance(entry.get("code"), str) else f"entry {index}"
        problems.extend(f"{label}: {problem}" for problem in _entry_problems(entry))
        if label in seen:
            problems.append(f"{label}: code appears twice")
        seen.add(label)
    if problems:
        raise CatalogueError(problems)


def _entry_problems(entry: dict[str, Any]) -> list[str]:
    problems = []
    missing = [name for name in ENTRY_FIELDS if name not in entry]
    unknown = sorted(set(entry) - set(ENTRY_FIELDS))
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}")
    for name, length in _STRING_FIELDS.items():
        value = entry.get(name, "")
        if not isinstance(value, str):
            problems.append(f"{name} must be a string")
        elif len(value) > length:
            problems.append(f"{name} is longer than {length} characters")
    for name in _BOOLEAN_FIELDS:
        if not isinstance(entry.get(name, False), bool):
            problems.append(f"{name} must be true or false")
    code = entry.get("code")
    if isinstance(code, str) and not _CODE.match(code):
        problems.append(
            "code must be lowercase letters, digits and _ (2-40, starting with a letter)"
        )
    if not isinstance(entry.get("name", ""), str) or not entry.get("name"):
        problems.append("name must not be empty")
    kind = entry.get("integration_type")
    if kind not in INTEGRATION_TYPES:
        problems.append(f"integration_type must be one of {', '.join(INTEGRATION_TYPES)}")
    for needed in REQUIRED_BY_TYPE.get(kind, ()):
        if not entry.get(needed):
            problems.append(f"{needed} is required for {kind} brokers")
    mode = entry.get("sync_mode")
    if mode not in SYNC_MODES:
        problems.append(f"sync_mode must be one of {', '.join(SYNC_MODES)}")
    elif entry.get("supports_auto_sync") is not (mode == "unattended"):
        problems.append("supports_auto_sync must be true exactly when sync_mode is unattended")
    elif (mode == "manual") is not (kind == "manual"):
        problems.append("sync_mode manual is for manual brokers (and only for them)")
    if not str(entry.get("sync_note") or "").strip():
        problems.append("sync_note must say how the broker syncs and why")
    country = entry.get("country", "")
    if isinstance(country, str) and country and not re.fullmatch(r"[A-Z]{2}", country):
        problems.append("country must be an ISO 3166 code (two capital letters) or empty")
    currency = entry.get("default_currency", "")
    if isinstance(currency, str) and currency and not re.fullmatch(r"[A-Z]{3}", currency):
        problems.append("default_currency must be an ISO 4217 code (three capitals) or empty")
    if "credential_schema" in entry:
        problems.extend(schema_problems(entry["credential_schema"]))
    return problems


def schema_problems(schema: Any) -> list[str]:
    """Why `schema` is not a usable credential schema (empty when it is)."""
    if not isinstance(schema, dict):
        return ["credential_schema must be an object"]
    from jsonschema import Draft202012Validator  # loaded on use: keeps the definitions fast
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "(root)"
        return [f"credential_schema is not a valid JSON Schema at {where}: {exc.message}"]
    problems = []
    if schema.get("type") != "object":
        problems.append('credential_schema must have "type": "object"')
    if schema.get("additionalProperties") is not False:
        problems.append('credential_schema must have "additionalProperties": false')
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return [*problems, "credential_schema must have properties (may be empty)"]
    if not isinstance(schema.get("required"), list):
        problems.append("credential_schema must list required fields (may be empty)")
    for name in schema.get("required") or []:
        if name not in properties:
            problems.append(f"credential_schema requires {name!r}, which is not a property")
    for name, spec in properties.items():
        where = f"credential_schema property {name!r}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problems.append(f"{where}: names are lowercase letters, digits and _")
        if spec.get("type") not in FIELD_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(FIELD_TYPES)}")
        for text in ("title", "description"):
            if not isinstance(spec.get(text), str) or not spec[text].strip():
                problems.append(f"{where}: needs a {text}")
        if spec.get("format") == "password" and spec.get("type") != "string":
            problems.append(f"{where}: format password is for strings")
        encoding = spec.get("contentEncoding")
        if encoding is not None and (encoding not in CONTENT_ENCODINGS or spec["type"] != "string"):
            problems.append(
                f"{where}: contentEncoding must be one of {', '.join(CONTENT_ENCODINGS)} "
                "(on a string)"
            )
        bits = spec.get("x-minBits")
        if bits is not None and (
            encoding is None or not isinstance(bits, int) or isinstance(bits, bool) or bits < 1
        ):
            problems.append(f"{where}: x-minBits is a positive whole number, with contentEncoding")
        if RENEWED_AT_SYNC in spec and spec[RENEWED_AT_SYNC] is not True:
            problems.append(f"{where}: {RENEWED_AT_SYNC} is true or absent")
    return problems


CONTENT_ENCODINGS = ("base32",)


def base32_bits(value: str) -> int | None:
    """How many bits `value` holds as base32 (spaces, case and padding tolerated); None if
    it is not base32 (a character outside A-Z 2-7, or a length no encoder makes)."""
    normalised = "".join(value.split()).upper().rstrip("=")
    if not normalised or not re.fullmatch(r"[A-Z2-7]+", normalised):
        return None
    if len(normalised) % 8 not in (0, 2, 4, 5, 7):
        return None
    padded = normalised + "=" * (-len(normalised) % 8)
    try:
        return len(base64.b32decode(padded)) * 8
    except binascii.Error:
        return None


def _encoding_problems(properties: Mapping[str, Any], credentials: Mapping[str, Any]):
    """(field, message) for values not in their field's contentEncoding (never quoted)."""
    for name, spec in properties.items():
        value = credentials.get(name)
        if spec.get("contentEncoding") != "base32" or not isinstance(value, str):
            continue
        bits = base32_bits(value)
        minimum = spec.get("x-minBits") or 1
        if bits is None:
            yield name, "must be base32 (letters A-Z and digits 2-7, as shown at the setup)"
        elif bits < minimum:
            yield (
                name,
                (
                    f"is too short: {bits} bits, at least {minimum} are needed "
                    f"({-(-minimum // 5)} or more characters)"
                ),
            )


# --- the table --------------------------------------------------------------------------


def load_catalogue(connection: Connection, path: Path = CATALOGUE_PATH) -> int:
    """Upsert the fixture into `brokers` by code; returns how many rows it added or changed.

    Idempotent: a second load changes nothing and returns 0. Brokers in the table that the
    fixture no longer lists are left alone (accounts may still refer to them).
    """
    entries = read_fixture(path)
    columns = [brokers.c[name] for name in ENTRY_FIELDS]
    current = {
        row.code: dict(row._mapping)
        for row in connection.execute(
            select(*columns).where(brokers.c.code.in_([e["code"] for e in entries]))
        )
    }
    changed = 0
    for entry in entries:
        values = {name: entry[name] for name in ENTRY_FIELDS}
        existing = current.get(entry["code"])
        if existing is None:
            connection.execute(_insert_ignoring_conflict(connection, values))
            changed += 1
        elif existing != values:
            connection.execute(
                update(brokers).where(brokers.c.code == entry["code"]).values(**values)
            )
            if existing["name"] != values["name"]:
                _record_renamed(connection, entry["code"], values["name"])
            changed += 1
    return changed


def _record_renamed(connection: Connection, code: str, name: str) -> None:
    """The breakdowns by broker show its name: rebuild them for everyone banking there."""
    owners = (
        connection.execute(
            select(financial_accounts.c.user_id)
            .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
            .where(brokers.c.code == code)
            .distinct()
        )
        .scalars()
        .all()
    )
    for user_id in owners:
        record_mart_change(connection, user_id, clock.today(), f"broker {code} renamed to {name}")


def _insert_ignoring_conflict(connection: Connection, values: dict[str, Any]) -> Insert:
    """INSERT that yields to a concurrent loader instead of failing on the unique code."""
    statement = dialect.insert(connection, brokers).values(**values)
    return statement.on_conflict_do_nothing(index_elements=["code"])


def ensure_catalogue(connection: Connection, path: Path = CATALOGUE_PATH) -> int:
    """Load the catalogue when a broker of the fixture is missing (first use, or new entries)."""
    wanted = {entry["code"] for entry in read_fixture(path)}
    present = set(connection.execute(select(brokers.c.code)).scalars())
    if wanted <= present:
        return 0
    return load_catalogue(connection, path)


def list_brokers(connection: Connection, *, active_only: bool = False) -> list[Mapping[str, Any]]:
    query = select(brokers).order_by(brokers.c.code)
    if active_only:
        query = query.where(brokers.c.is_active)
    return [row._mapping for row in connection.execute(query)]


def get_broker(connection: Connection, code: str) -> Mapping[str, Any] | None:
    row = connection.execute(select(brokers).where(brokers.c.code == code.strip().lower())).first()
    return None if row is None else row._mapping


# --- credentials ------------------------------------------------------------------------


def credential_fields(schema: Mapping[str, Any]) -> list[CredentialField]:
    """The schema's fields in their declared order (the order they are prompted in)."""
    required = set(schema.get("required") or ())
    return [
        CredentialField(
            name=name,
            title=spec.get("title") or name,
            description=spec.get("description") or "",
            type=spec.get("type", "string"),
            required=name in required,
            secret=spec.get("format") == "password",
            default=spec.get("default"),
            renewed=spec.get(RENEWED_AT_SYNC) is True,
        )
        for name, spec in (schema.get("properties") or {}).items()
    ]


def secret_fields(schema: Mapping[str, Any]) -> list[str]:
    return [field.name for field in credential_fields(schema) if field.secret]


def validate_credentials(schema: Mapping[str, Any], credentials: Any) -> dict[str, Any]:
    """`credentials` checked against `schema`, with schema defaults filled in.

    Raises CredentialsInvalid listing every problem as "field: what is wrong", in the
    schema's field order; values are never quoted.
    """
    if not isinstance(credentials, dict):
        raise CredentialsInvalid(["credentials: must be a JSON object of field: value"])
    properties: dict[str, Any] = dict(schema.get("properties") or {})
    order = {name: index for index, name in enumerate(properties)}
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found: dict[tuple[int, str], str] = {}
    for error in validator.iter_errors(credentials):
        for field, message in _describe(error, properties):
            key = (order.get(field, len(order)), field)
            found.setdefault(key, f"{field}: {message}")
    for field, message in _encoding_problems(properties, credentials):
        found.setdefault((order[field], field), f"{field}: {message}")
    if found:
        raise CredentialsInvalid([found[key] for key in sorted(found)])
    result = {}
    for name, spec in properties.items():
        if name in credentials:
            result[name] = credentials[name]
        elif "default" in spec:
            result[name] = spec["default"]
    return result


def _describe(error: Any, properties: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(field, message) pairs for one jsonschema error, without the offending value."""
    path = [str(part) for part in error.absolute_path]
    field = ".".join(path) or "credentials"
    keyword, expected = error.validator, error.validator_value
    if keyword == "required":
        for name in expected:
            if isinstance(error.instance, dict) and name not in error.instance:
                yield name, "is required"
    elif keyword == "additionalProperties":
        known = ", ".join(properties) or "none"
        for name in sorted(set(error.instance) - set(properties)):
            yield name, f"is not a field of this broker (fields: {known})"
    elif keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        yield field, "must be " + " or ".join(_TYPE_WORDS.get(t, t) for t in types)
    elif keyword == "minLength":
        yield (
            field,
            "must not be empty" if expected == 1 else f"needs at least {expected} characters",
        )
    elif keyword == "maxLength":
        yield field, f"must be at most {expected} characters"
    elif keyword == "enum":
        yield field, "must be one of " + ", ".join(str(v) for v in expected)
    elif keyword == "format":
        yield field, f"must be a valid {expected}" + (" address" if expected == "email" else "")
    elif keyword == "pattern":
        hint = (properties.get(path[0], {}) if path else {}).get("description")
        yield field, "has the wrong format" + (f" (expected: {hint})" if hint else "")
    else:
        yield field, f"is invalid ({keyword})"


def mask_credentials(schema: Mapping[str, Any], credentials: Mapping[str, Any]) -> dict[str, Any]:
    """Credentials fit to show: secrets replaced by MASK, other fields in clear.

    A field the schema does not know is masked too: showing a secret by mistake is worse
    than hiding a harmless value.
    """
    properties: Mapping[str, Any] = schema.get("properties") or {}
    shown = {}
    for name, value in credentials.items():
        spec = properties.get(name)
        if spec is None or spec.get("format") == "password":
            shown[name] = MASK
        else:
            shown[name] = value
    return shown
