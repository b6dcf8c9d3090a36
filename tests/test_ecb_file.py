"""The ECB's `eurofxref-hist` file: read exactly, refused clearly, from a path or a URL.

Malformed files must fail naming the line, so a user can open the file and see the problem.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.data import ECB_SAMPLE
from tests.support.fakes.static import Response, StaticServer
from wealth_pipeline import http
from wealth_pipeline.fx import sources
from wealth_pipeline.fx.ecb_file import MalformedRates, read_ecb_bytes
from wealth_pipeline.fx.sources import EcbFileRates

SAMPLE = ECB_SAMPLE.read_bytes()
SECRET = "SECRET-token-123"
HEADER = "Date,USD,JPY,ISK,"


def zipped(
    data: bytes, name: str = "eurofxref-hist.csv", others: dict[str, bytes] | None = None
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for other, content in (others or {}).items():
            archive.writestr(other, content)
        archive.writestr(name, data)
    return buffer.getvalue()


def sample_cells() -> dict[tuple[date, str], str]:
    """Every published value in the sample as text, read with the csv module alone."""
    rows = list(csv.reader(io.StringIO(SAMPLE.decode())))
    codes = rows[0][1:]
    return {
        (date.fromisoformat(row[0]), code): cell
        for row in rows[1:]
        for code, cell in zip(codes, row[1:], strict=True)
        if code and cell != "N/A"
    }


def ecb_source(location: str | Path) -> EcbFileRates:
    return EcbFileRates(
        location=str(location), timeout_seconds=0.5, max_attempts=3, backoff_seconds=0.01
    )


@pytest.fixture
def static() -> Iterator[StaticServer]:
    with StaticServer() as server:
        yield server


# --- parsing --------------------------------------------------------------------------


def test_the_sample_is_read_exactly() -> None:
    rates = read_ecb_bytes(SAMPLE, "sample")
    assert len(rates) == SAMPLE.count(b"\n") - 1
    assert min(rates) == date(2004, 12, 15) and max(rates) == date(2026, 10, 30)
    seen = {
        (day, code): rate for day, day_rates in rates.items() for code, rate in day_rates.items()
    }
    cells = sample_cells()
    assert seen.keys() == cells.keys()
    for key, rate in seen.items():
        assert type(rate) is Decimal and str(rate) == cells[key], key


def test_published_values_keep_their_form() -> None:
    rates = read_ecb_bytes(SAMPLE, "sample")
    newest = rates[date(2026, 10, 30)]
    assert str(newest["ISK"]) == "136" and str(newest["JPY"]) == "175.68"
    assert str(rates[date(2026, 10, 29)]["GBP"]) == "0.83578"
    assert str(rates[date(2004, 12, 31)]["TRL"]) == "1836200"
    assert newest["USD"] == Decimal("1.1172")


def test_na_means_no_rate_that_day() -> None:
    rates = read_ecb_bytes(SAMPLE, "sample")
    assert "ISK" in rates[date(2008, 12, 9)] and "ISK" not in rates[date(2008, 12, 10)]
    assert "BGN" in rates[date(2025, 12, 31)] and "BGN" not in rates[date(2026, 1, 2)]
    assert "RUB" in rates[date(2022, 3, 1)] and "RUB" not in rates[date(2022, 3, 2)]
    assert all("N/A" not in map(str, day.values()) for day in rates.values())


def test_the_trailing_comma_is_not_a_currency() -> None:
    assert SAMPLE.splitlines()[0].endswith(b",")
    rates = read_ecb_bytes(SAMPLE, "sample")
    assert all(len(code) == 3 for day in rates.values() for code in day)


def test_a_zip_with_the_csv_reads_the_same() -> None:
    expected = read_ecb_bytes(SAMPLE, "sample")
    assert read_ecb_bytes(zipped(SAMPLE), "zip") == expected
    with_readme = zipped(SAMPLE, "data/EUROFXREF-HIST.CSV", others={"README.txt": b"Date,x\n"})
    assert read_ecb_bytes(with_readme, "zip") == expected


def test_a_byte_order_mark_and_crlf_lines_are_fine() -> None:
    crlf = b"\xef\xbb\xbf" + SAMPLE.replace(b"\n", b"\r\n")
    assert read_ecb_bytes(crlf, "bom") == read_ecb_bytes(SAMPLE, "sample")


def test_blank_lines_are_skipped() -> None:
    text = f"{HEADER}\n\n2024-01-03,1.0919,157.1,150.5,\n\n2024-01-02,1.0956,155.77,150.9,\n"
    rates = read_ecb_bytes(text.encode(), "f.csv")
    assert sorted(rates) == [date(2024, 1, 2), date(2024, 1, 3)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.csv: line 1 is not the ECB header"),
        ("\n2024-01-02,1.1,\n", "f.csv: line 1 is not the ECB header"),
        ("Day,USD,\n2024-01-02,1.1,\n", "f.csv: line 1 is not the ECB header"),
        ("Date,usd,\n2024-01-02,1.1,\n", "f.csv: line 1 names an invalid currency 'usd'"),
        ("Date,USD,JPY,USD,\n2024-01-02,1.1,150,1.2,\n", "f.csv: line 1 names USD twice"),
        (f"{HEADER}\n", "f.csv: no rates in the file"),
        (
            f"{HEADER}\n2024-01-03,1.1,157,150,\n2024-01-32,1.1,157,150,\n",
            "line 3: bad date '2024-01-32'",
        ),
        (f"{HEADER}\n03/01/2024,1.1,157,150,\n", "line 2: bad date '03/01/2024'"),
        (f"{HEADER}\n2024-01-03,1.1,abc,150,\n", "line 2, JPY: not a rate: 'abc'"),
        (f"{HEADER}\n2024-01-03,1.1,157,NaN,\n", "line 2, ISK: not a rate: 'NaN'"),
        (f"{HEADER}\n2024-01-03,1.1,157,-150,\n", "line 2, ISK: rate must be positive"),
        (f"{HEADER}\n2024-01-03,0,157,150,\n", "line 2, USD: rate must be positive"),
        (f"{HEADER}\n2024-01-03,1.0000000000001,157,150,\n", "line 2, USD: more than 12 decimals"),
        (
            f"{HEADER}\n2024-01-03,1.1,157,150,\n2024-01-03,1.1,157,150,\n",
            "line 3: 2024-01-03 appears twice",
        ),
        (f"{HEADER}\n2024-01-03,1.1,157,150,9,9\n", "line 2: more values than currencies"),
        (
            f"{HEADER}\n2024-01-04,1.1,157,150,\n\n2024-01-03,1.1,x,150,\n",
            "line 4, JPY: not a rate",
        ),
    ],
    ids=[
        "empty",
        "blank-header",
        "wrong-header",
        "bad-currency",
        "duplicate-currency",
        "header-only",
        "bad-date",
        "foreign-date",
        "not-numeric",
        "nan",
        "negative",
        "zero",
        "too-precise",
        "duplicate-date",
        "too-many-values",
        "line-after-blank",
    ],
)
def test_malformed_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(MalformedRates) as raised:
        read_ecb_bytes(text.encode(), "f.csv")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 this is no zip", "not a readable zip file"),
        (zipped(SAMPLE)[: len(zipped(SAMPLE)) // 2], "not a readable zip file"),
        (zipped(b"just text", name="README.txt"), "the zip holds no CSV file"),
        ("Date,USD,\n2024-01-02,1.1,\n".encode("utf-16"), "not UTF-8 text"),
    ],
    ids=["garbage", "truncated", "no-csv", "utf16"],
)
def test_unreadable_files_are_malformed(data: bytes, message: str) -> None:
    with pytest.raises(MalformedRates, match=re.escape(f"rates.zip: {message}")):
        read_ecb_bytes(data, "rates.zip")


def test_a_damaged_zip_is_malformed_not_a_crash() -> None:
    """A download cut or corrupted in the middle of the compressed data (zlib fails)."""
    damaged = bytearray(zipped(SAMPLE))
    for index in range(200, 240):
        damaged[index] ^= 0x55
    with pytest.raises(MalformedRates, match=re.escape("rates.zip: not a readable zip file")):
        read_ecb_bytes(bytes(damaged), "rates.zip")


# --- EcbFileRates from a path ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "zip"])
def test_fetch_from_a_path_keeps_only_the_window(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"eurofxref-hist.{kind}"
    path.write_bytes(SAMPLE if kind == "csv" else zipped(SAMPLE))
    published = ecb_source(path).fetch(date(2024, 1, 1), date(2024, 1, 10))
    expected = read_ecb_bytes(SAMPLE, "sample")
    assert published.days == {
        d: r for d, r in expected.items() if date(2024, 1, 1) <= d <= date(2024, 1, 10)
    }
    assert min(published.days) == date(2024, 1, 2)
    assert published.latest_day == date(2026, 10, 30)  # the file's newest day
    assert published.requests == 0
    assert published.source == "ecb_file"
    assert "USD" in published.currencies and "BGN" in published.currencies


def test_a_window_the_file_has_nothing_for_is_empty() -> None:
    published = ecb_source(ECB_SAMPLE).fetch(date(2010, 1, 1), date(2010, 1, 31))
    assert published.days == {} and published.currencies == frozenset()
    assert published.latest_day == date(2026, 10, 30)


def test_a_home_relative_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "rates.csv").write_bytes(SAMPLE)
    published = ecb_source("~/rates.csv").fetch(date(2026, 10, 30), date(2026, 10, 30))
    assert list(published.days) == [date(2026, 10, 30)]


def test_a_missing_file_says_which_setting_to_check(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "eurofxref-hist.zip"
    with pytest.raises(FileNotFoundError) as raised:
        ecb_source(missing).fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert str(missing) in str(raised.value) and "WEALTH_ECB_FILE" in str(raised.value)


def test_a_directory_is_not_a_rate_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="WEALTH_ECB_FILE"):
        ecb_source(tmp_path).fetch(date(2024, 1, 1), date(2024, 1, 10))


def test_a_malformed_file_names_the_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(f"{HEADER}\n2024-01-03,1.1,157,150,\n2024-01-02,1.1,oops,150,\n")
    with pytest.raises(MalformedRates, match=re.escape(f"{path}: line 3, JPY: not a rate: 'oops'")):
        ecb_source(path).fetch(date(2024, 1, 1), date(2024, 1, 10))


def rows(*days: tuple[str, str]) -> str:
    return HEADER + "\n" + "".join(f"{day},{usd},157.1,150,\n" for day, usd in days)


def test_a_grown_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(rows(("2024-01-02", "1.0956")))
    rates = ecb_source(path)
    assert rates.fetch(date(2024, 1, 1), date(2024, 1, 10)).latest_day == date(2024, 1, 2)
    path.write_text(rows(("2024-01-03", "1.0919"), ("2024-01-02", "1.0956")))
    published = rates.fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert published.latest_day == date(2024, 1, 3)
    assert published.days[date(2024, 1, 3)]["USD"] == Decimal("1.0919")


def test_a_corrected_file_of_the_same_size_is_read_again(tmp_path: Path) -> None:
    """Same size, new modification time: the cache must not hide the correction."""
    path = tmp_path / "rates.csv"
    path.write_text(rows(("2024-01-02", "1.0956")))
    rates = ecb_source(path)
    assert rates.fetch(date(2024, 1, 2), date(2024, 1, 2)).days[date(2024, 1, 2)]["USD"] == Decimal(
        "1.0956"
    )
    before = path.stat().st_mtime_ns
    path.write_text(rows(("2024-01-02", "1.0957")))
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))
    published = rates.fetch(date(2024, 1, 2), date(2024, 1, 2))
    assert published.days[date(2024, 1, 2)]["USD"] == Decimal("1.0957")


def test_an_unchanged_file_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full history is ~7,000 lines: daily runs should not re-parse it every time."""
    path = tmp_path / "rates.csv"
    path.write_bytes(SAMPLE)
    parsed: list[str] = []

    def counting(data: bytes, origin: str):
        parsed.append(origin)
        return read_ecb_bytes(data, origin)

    monkeypatch.setattr(sources, "read_ecb_bytes", counting)
    first = ecb_source(path).fetch(date(2024, 1, 1), date(2024, 1, 10))
    second = ecb_source(path).fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert first.days == second.days
    assert parsed == [str(path)]


def test_the_describe_text_names_the_file() -> None:
    assert ecb_source(ECB_SAMPLE).describe() == f"ECB file {ECB_SAMPLE}"


# --- EcbFileRates from a URL ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["zip", "csv"])
def test_fetch_from_a_url(static: StaticServer, tmp_path: Path, kind: str) -> None:
    file = tmp_path / f"eurofxref-hist.{kind}"
    file.write_bytes(zipped(SAMPLE) if kind == "zip" else SAMPLE)
    url = static.serve_file(f"/stats/eurofxref-hist.{kind}", file)
    published = ecb_source(url).fetch(date(2022, 2, 15), date(2022, 3, 20))
    expected = read_ecb_bytes(SAMPLE, "sample")
    assert published.days == {
        d: r for d, r in expected.items() if date(2022, 2, 15) <= d <= date(2022, 3, 20)
    }
    assert published.latest_day == date(2026, 10, 30)
    assert published.requests == 1
    assert static.requests == [f"/stats/eurofxref-hist.{kind}"]


def test_a_url_is_downloaded_again_each_fetch(static: StaticServer) -> None:
    """A URL has no modification time to trust: each fetch sees the server's current file."""
    url = static.serve("/hist.csv", Response(body=rows(("2024-01-02", "1.0956")).encode()))
    rates = ecb_source(url)
    assert rates.fetch(date(2024, 1, 1), date(2024, 1, 10)).latest_day == date(2024, 1, 2)
    static.serve(
        "/hist.csv",
        Response(body=rows(("2024-01-03", "1.0919"), ("2024-01-02", "1.0956")).encode()),
    )
    assert rates.fetch(date(2024, 1, 1), date(2024, 1, 10)).latest_day == date(2024, 1, 3)


def test_a_url_is_retried_through_a_server_error(static: StaticServer) -> None:
    url = static.serve("/hist.zip", Response(503), Response(502), Response(body=zipped(SAMPLE)))
    published = ecb_source(url).fetch(date(2026, 10, 1), date(2026, 10, 30))
    assert len(published.days) == 22
    assert len(static.requests) == 3


def test_a_moved_url_is_followed(static: StaticServer) -> None:
    static.serve("/new/hist.zip", Response(body=zipped(SAMPLE)))
    url = static.redirect("/old/hist.zip", static.url("/new/hist.zip"), status=302)
    published = ecb_source(url).fetch(date(2026, 10, 1), date(2026, 10, 30))
    assert len(published.days) == 22


def test_a_missing_url_fails_without_its_token(static: StaticServer) -> None:
    with pytest.raises(http.HttpRefused) as raised:
        ecb_source(static.url(f"/gone.zip?t={SECRET}")).fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert raised.value.status == 404 and "/gone.zip" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert len(static.requests) == 1


def test_a_web_page_instead_of_the_file_is_malformed_without_its_token(
    static: StaticServer,
) -> None:
    static.serve(
        "/hist.zip", Response(body=b"<html>Please log in</html>", content_type="text/html")
    )
    with pytest.raises(
        MalformedRates, match=re.escape("/hist.zip: line 1 is not the ECB header")
    ) as raised:
        ecb_source(static.url(f"/hist.zip?t={SECRET}")).fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert SECRET not in str(raised.value)


def test_describe_hides_a_urls_token() -> None:
    rates = ecb_source(f"https://files.example/eurofxref-hist.zip?t={SECRET}")
    assert rates.describe() == "ECB file at https://files.example/eurofxref-hist.zip"
