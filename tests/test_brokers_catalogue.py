"""The broker catalogue: a valid fixture, loaded idempotently; credentials validated with
messages naming the field (never the value), masked without revealing secrets; raw broker
data redacted."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select, update

from wealth_pipeline.brokers.catalogue import (
    MASK,
    CatalogueError,
    CredentialsInvalid,
    ensure_catalogue,
    get_broker,
    load_catalogue,
    mask_credentials,
    read_fixture,
    secret_fields,
    validate_credentials,
)
from wealth_pipeline.brokers.redact import REDACTED, redact
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import brokers

CODES = {"dkb", "commerzbank", "truewealth", "viac", "ibkr", "morganstanley", "manual", "demo"}


def schema_of(code: str) -> dict:
    return next(entry for entry in read_fixture() if entry["code"] == code)["credential_schema"]


def test_fixture_lists_the_brokers_with_valid_schemas() -> None:
    entries = {entry["code"]: entry for entry in read_fixture()}
    assert set(entries) == CODES
    for entry in entries.values():
        schema = entry["credential_schema"]
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        for spec in schema["properties"].values():
            assert spec["title"] and spec["description"]
    dkb = entries["dkb"]
    assert (dkb["bank_identifier"], dkb["fints_server"]) == (
        "12030000",
        "https://fints.dkb.de/fints",
    )
    assert dkb["supports_2fa"] and dkb["supports_auto_sync"]
    assert entries["commerzbank"]["bank_identifier"] == "16040000"
    assert not entries["commerzbank"]["supports_auto_sync"]  # photoTAN
    assert secret_fields(schema_of("dkb")) == ["pin"]
    assert secret_fields(schema_of("truewealth")) == ["password", "totp_secret"]
    assert secret_fields(schema_of("ibkr")) == ["flex_token"]
    assert secret_fields(schema_of("morganstanley")) == ["jwt"]
    assert schema_of("morganstanley")["properties"]["include_unvested"]["default"] is False
    for code in ("manual", "demo"):
        assert schema_of(code)["properties"] == {}
    assert entries["demo"]["supports_auto_sync"] and not entries["manual"]["supports_auto_sync"]


def test_load_is_idempotent_and_restores_edits(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        assert load_catalogue(connection) == len(CODES)
    with engine.begin() as connection:
        assert load_catalogue(connection) == 0
        assert connection.execute(select(func.count()).select_from(brokers)).scalar() == 8
        connection.execute(update(brokers).where(brokers.c.code == "dkb").values(name="x"))
    with engine.begin() as connection:
        assert load_catalogue(connection) == 1
        dkb = get_broker(connection, "DKB")
        assert dkb is not None and dkb["name"].startswith("DKB")
        assert dkb["credential_schema"] == schema_of("dkb")


def test_first_use_loads_an_empty_or_incomplete_table(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        assert ensure_catalogue(connection) == 8
        assert ensure_catalogue(connection) == 0
        connection.execute(brokers.delete().where(brokers.c.code == "viac"))
        assert ensure_catalogue(connection) == 1


def test_a_malformed_fixture_is_refused_with_every_problem(tmp_path: Path) -> None:
    entries = read_fixture()
    broken = copy.deepcopy(entries)
    broken[0]["bank_identifier"] = ""  # fints without a BLZ
    broken[1]["credential_schema"]["properties"]["pin"]["type"] = "strng"  # invalid schema
    broken[2]["credential_schema"].pop("additionalProperties")
    broken[3]["credential_schema"]["required"].append("nope")
    broken[4]["code"] = broken[5]["code"]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(CatalogueError) as caught:
        read_fixture(path)
    text = str(caught.value)
    assert "dkb: bank_identifier is required for fints brokers" in text
    assert "commerzbank: credential_schema is not a valid JSON Schema" in text
    assert 'truewealth: credential_schema must have "additionalProperties": false' in text
    assert "viac: credential_schema requires 'nope'" in text
    assert "morganstanley: code appears twice" in text


def test_validation_names_every_bad_field_in_schema_order() -> None:
    with pytest.raises(CredentialsInvalid) as caught:
        validate_credentials(schema_of("dkb"), {"username": "", "extra": "x"})
    assert caught.value.errors == [
        "username: must not be empty",
        "pin: is required",
        "extra: is not a field of this broker (fields: username, pin)",
    ]
    with pytest.raises(CredentialsInvalid) as caught:
        validate_credentials(schema_of("ibkr"), {"flex_token": "t0k3n", "query_id": 123456})
    assert caught.value.errors == ["query_id: must be a string"]
    with pytest.raises(CredentialsInvalid, match=r"username: has the wrong format .*country code"):
        validate_credentials(schema_of("viac"), {"username": "nobody", "password": "pw"})
    with pytest.raises(CredentialsInvalid, match="credentials: must be a JSON object"):
        validate_credentials(schema_of("viac"), ["username"])


def test_validation_messages_never_quote_a_value() -> None:
    secret = "Bearer not-a-jwt-SECRET"
    with pytest.raises(CredentialsInvalid) as caught:
        validate_credentials(
            schema_of("morganstanley"),
            {"jwt": secret, "employee_id": "E1", "include_unvested": "SECRET-yes"},
        )
    text = str(caught.value)
    assert "jwt: has the wrong format" in text
    assert "include_unvested: must be true or false" in text
    assert "SECRET" not in text


def test_validation_fills_defaults_and_keeps_schema_order() -> None:
    valid = validate_credentials(schema_of("morganstanley"), {"employee_id": "E1", "jwt": "a.b.c"})
    assert valid == {"jwt": "a.b.c", "employee_id": "E1", "include_unvested": False}
    assert list(valid) == ["jwt", "employee_id", "include_unvested"]
    assert validate_credentials(schema_of("manual"), {}) == {}
    with pytest.raises(CredentialsInvalid, match="pin: is not a field"):
        validate_credentials(schema_of("manual"), {"pin": "1"})


def test_masking_reveals_neither_secrets_nor_their_length() -> None:
    schema = schema_of("truewealth")
    short = mask_credentials(schema, {"username": "me@x.ch", "password": "a", "totp_secret": "B"})
    long = mask_credentials(
        schema, {"username": "me@x.ch", "password": "a" * 40, "totp_secret": "JBSWY3DPEHPK3PXP"}
    )
    assert short == long == {"username": "me@x.ch", "password": MASK, "totp_secret": MASK}
    assert not set(MASK) & set("aBJSWY3DPEHPK3PXP")
    # A field the schema does not know is hidden too (safer than showing a stray secret).
    assert mask_credentials(schema, {"legacy_pin": "1234"}) == {"legacy_pin": MASK}
    ms = mask_credentials(
        schema_of("morganstanley"), {"jwt": "a.b.c", "employee_id": "E1", "include_unvested": True}
    )
    assert ms == {"jwt": MASK, "employee_id": "E1", "include_unvested": True}


def test_redact_removes_secrets_and_session_tokens_at_any_depth() -> None:
    raw = {
        "balance": "12.50",
        "pin": "4711",
        "login": {"loginId": "me", "password": "hunter22", "token": "123456"},
        "headers": {"Set-Cookie": "SESSION=abc", "X-XSRF-TOKEN": "x", "Accept": "json"},
        "accounts": [{"iban": "DE02", "access_token": "t"}, {"note": "url?t=FLEXTOKEN99&q=1"}],
        "flexToken": "FLEXTOKEN99",
        "currency": {"code": "EUR"},
    }
    original = copy.deepcopy(raw)
    cleaned = redact(raw, ["flex_token"], secret_values=["FLEXTOKEN99"])
    assert raw == original
    assert cleaned == {
        "balance": "12.50",
        "login": {"loginId": "me"},
        "headers": {"Accept": "json"},
        "accounts": [{"iban": "DE02"}, {"note": REDACTED}],
        "currency": {"code": "EUR"},
    }
