"""Loading a dataset folder: types, and one clear error per broken rule."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.contract import DataContractError, load_marketplace, save_marketplace
from tests.conftest import tiny_tables, write_tables


def broken(tmp_path: Path, table: str, change, fmt: str = "csv") -> str:
    tables = tiny_tables()
    tables[table] = change(tables[table].copy())
    write_tables(tmp_path / "bad", tables, fmt)
    with pytest.raises(DataContractError) as info:
        load_marketplace(tmp_path / "bad")
    return str(info.value)


def test_valid_dataset_loads_with_contract_types(tiny_dataset: Path) -> None:
    market = load_marketplace(tiny_dataset)
    listings = market.listings
    assert str(listings["created_at"].dtype) == "datetime64[ns, UTC]"
    assert listings["price"].tolist() == [1200.5, 80.0, 15.0, 9.99]
    assert listings["quantity"].dtype == "int64"
    assert listings["title"].tolist()[2] == ""  # empty optional text stays "not given"
    assert market.sellers["business_verified"].tolist() == [True, False]
    assert market.complaints["resolved_at"].isna().tolist() == [False, True]


def test_parquet_and_csv_load_the_same(tmp_path: Path, tiny_dataset: Path) -> None:
    from_csv = load_marketplace(tiny_dataset)
    save_marketplace(from_csv, tmp_path / "pq", fmt="parquet")
    from_parquet = load_marketplace(tmp_path / "pq")
    for name, frame in from_csv.tables().items():
        pd.testing.assert_frame_equal(frame, from_parquet.tables()[name], check_dtype=False)


def test_extra_columns_are_ignored(tmp_path: Path) -> None:
    tables = tiny_tables()
    tables["listings"]["internal_note"] = "x"
    market = load_marketplace(write_tables(tmp_path / "extra", tables))
    assert "internal_note" not in market.listings


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    message = broken(tmp_path, "listings", lambda f: f.drop(columns=["price"]))
    assert "listings.csv, column 'price': required column is missing" in message


def test_missing_table_is_named(tmp_path: Path) -> None:
    tables = tiny_tables()
    del tables["fx_rates"]
    write_tables(tmp_path / "bad", tables)
    with pytest.raises(DataContractError, match="table missing: no fx_rates.csv"):
        load_marketplace(tmp_path / "bad")


def test_unparseable_timestamp_names_the_row(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[2, "created_at"] = "yesterday"
        return f

    message = broken(tmp_path, "listings", change)
    assert "listings.csv, column 'created_at': is not a valid timestamp" in message
    assert "line 4 (listing_id L3): 'yesterday'" in message


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_moment_nanoseconds_cannot_hold_is_a_bad_cell_not_a_crash(tmp_path: Path,
                                                                     fmt: str) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[2, "created_at"] = "3000-01-01T00:00:00Z"
        return f

    message = broken(tmp_path, "listings", change, fmt)
    assert f"listings.{fmt}, column 'created_at': is not a valid timestamp" in message
    assert "years 1678 to 2261" in message and "(listing_id L3)" in message


def test_an_integer_too_big_for_64_bits_is_a_bad_cell(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[1, "quantity"] = "99999999999999999999"  # wraps to a negative int64
        return f

    message = broken(tmp_path, "listings", change)
    assert "column 'quantity': is not a valid integer" in message
    assert "line 3 (listing_id L2)" in message and ">= 1" not in message


def test_a_column_named_twice_in_the_header_is_reported(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        return f.rename(columns={"label": "price"})

    message = broken(tmp_path, "listings", change)
    assert "listings.csv" in message and "price appear more than once in the header" in message
    from features.contract import iter_listing_chunks, load_context  # as `score` reads it

    with pytest.raises(DataContractError, match="price appear more than once in the header"):
        list(iter_listing_chunks(load_context(tmp_path / "bad")))


@pytest.mark.parametrize("price", ["0", "-3.5", "nan", "inf"])
def test_price_must_be_positive(tmp_path: Path, price: str) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[1, "price"] = price
        return f

    message = broken(tmp_path, "listings", change)
    assert "column 'price'" in message and "line 3 (listing_id L2)" in message


def test_a_row_after_multi_line_text_is_named_by_the_line_it_starts_on(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[0, "description"] = "first line\nsecond line\r\nthird line"
        f.loc[1, "price"] = "-3.5"
        return f

    message = broken(tmp_path, "listings", change)
    lines = (tmp_path / "bad" / "listings.csv").read_text().splitlines()
    at = next(i for i, line in enumerate(lines, start=1) if line.startswith("L2,"))
    assert at == 5  # header, L1 over three lines
    assert f"line {at} (listing_id L2)" in message, message


def test_a_row_after_blank_lines_is_named_by_its_own_line(tmp_path: Path) -> None:
    tables = tiny_tables()
    tables["listings"].loc[2, "price"] = "-7"  # L3, on line 4
    folder = write_tables(tmp_path / "bad", tables)
    path = folder / "listings.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2:2] = ["\n", "\n"]  # blank lines, which the reader skips: L3 is on line 6
    path.write_text("".join(lines))
    with pytest.raises(DataContractError, match=r"line 6 \(listing_id L3\): '-7'"):
        load_marketplace(folder)


def big_listings(rows: int) -> dict[str, pd.DataFrame]:
    """The tiny tables with `rows` listings of long descriptions over several lines, and
    extra columns that are empty or numbers until their last row: a file of many blocks."""
    tables = tiny_tables()
    one = tables["listings"].iloc[[0]]
    listings = one.loc[one.index.repeat(rows)].reset_index(drop=True)
    listings["listing_id"] = [f"B{i:06d}" for i in range(rows)]
    listings["description"] = [f"Item {i}.\nCondition: new.\r\n" + "x" * 600
                               for i in range(rows)]
    listings["moderator_note"] = [""] * (rows - 1) + ["checked by ops"]
    listings["ticket"] = [str(i) for i in range(rows - 1)] + ["see ticket"]
    tables["listings"] = listings
    return tables


def test_line_breaks_in_quoted_fields_and_odd_extra_columns_load_at_any_size(
        tmp_path: Path) -> None:
    """RFC 4180 lets a quoted field hold line breaks, and extra columns are ignored
    whatever they hold, in a file of many read blocks too (1 MiB for a whole read,
    16 MiB for `score`'s chunked read)."""
    from features.contract import iter_listing_chunks, load_context

    rows = 28_000
    folder = write_tables(tmp_path / "big", big_listings(rows))
    assert (folder / "listings.csv").stat().st_size > 17 << 20
    whole = load_marketplace(folder).listings
    assert len(whole) == rows and "moderator_note" not in whole
    assert whole["description"].iat[-1].startswith(f"Item {rows - 1}.\nCondition: new.\r\n")
    chunks = list(iter_listing_chunks(load_context(folder), rows=10_000))
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole,
                                  check_dtype=False)


def test_a_record_with_another_number_of_fields_is_named_by_its_line(tmp_path: Path) -> None:
    tables = tiny_tables()
    tables["listings"].loc[0, "description"] = "first line\nsecond line"  # L2 starts on line 4
    write_tables(tmp_path / "bad", tables)
    path = tmp_path / "bad" / "listings.csv"
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("L2,"))
    lines[at] = lines[at].rstrip("\n") + ",one too many\n"
    lines.insert(at, "\n")  # a blank line, which readers skip: not a record
    path.write_text("".join(lines))
    with pytest.raises(DataContractError) as refused:
        load_marketplace(tmp_path / "bad")
    assert "listings.csv: cannot be read: records with another number of fields than the " \
           "header's 13: line 5 (14 fields) (" in str(refused.value)
    from features.contract import iter_listing_chunks, load_context  # as `score` reads it

    with pytest.raises(DataContractError, match="header's 13: line 5 [(]14 fields[)] [(]"):
        list(iter_listing_chunks(load_context(tmp_path / "bad")))


def test_a_bad_parquet_number_is_shown_as_a_number(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f["price"] = pd.to_numeric(f["price"])
        f.loc[1, "price"] = -3.5
        return f

    message = broken(tmp_path, "listings", change, fmt="parquet")
    assert "row 1 (listing_id L2): -3.5" in message and "np." not in message, message


def test_non_numeric_price_in_parquet_names_the_row(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[0, "price"] = "twelve"
        return f

    message = broken(tmp_path, "listings", change, fmt="parquet")
    assert "listings.parquet, column 'price': is not a valid number" in message
    assert "row 0 (listing_id L1): 'twelve'" in message


@pytest.mark.parametrize(
    ("column", "values", "stored"),
    [("created_at", [True, False, True, False], "bool"),
     ("created_at", pd.to_timedelta([1, 2, 3, 4], unit="D"), "timedelta64"),
     ("price", pd.to_datetime(["2020-01-01"] * 4, utc=True), "datetime64"),
     ("price", [True, False, True, True], "bool"),
     ("quantity", [True, False, True, True], "bool")])
def test_a_parquet_column_stored_as_another_kind_is_named_not_read_as_numbers(
        tmp_path: Path, column: str, values: object, stored: str) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f[column] = values
        return f

    message = broken(tmp_path, "listings", change, fmt="parquet")
    assert f"listings.parquet, column '{column}': is stored as {stored}" in message, message


def test_unknown_currency(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[3, "currency"] = "XYZ"
        return f

    message = broken(tmp_path, "listings", change)
    assert "listings.csv, column 'currency': unknown currency (not in fx_rates.csv)" in message
    assert "line 5 (listing_id L4): 'XYZ'" in message


def test_duplicate_listing_id(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[3, "listing_id"] = "L1"
        return f

    message = broken(tmp_path, "listings", change)
    assert "listings.csv, column 'listing_id': duplicate listing_id" in message
    assert "line 2: 'L1'" in message and "line 5: 'L1'" in message


def test_listing_seller_must_exist(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[0, "seller_id"] = "S404"
        return f

    message = broken(tmp_path, "listings", change)
    assert "column 'seller_id': seller not found in sellers.csv" in message
    assert "line 2 (listing_id L1): 'S404'" in message


def test_complaint_status_and_resolution_must_agree(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[1, "resolved_at"] = "2026-03-08T00:00:00Z"  # pending yet resolved
        f.loc[0, "status"] = "maybe"
        return f

    message = broken(tmp_path, "complaints", change)
    assert "column 'resolved_at': must be empty while status is pending" in message
    assert "column 'status': must be one of upheld, rejected, pending" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[0, "quantity"] = "0"
        f.loc[1, "image_count"] = "2.5"
        f.loc[2, "ships_from"] = "France"
        return f

    with pytest.raises(DataContractError) as info:
        tables = tiny_tables()
        tables["listings"] = change(tables["listings"])
        load_marketplace(write_tables(tmp_path / "bad", tables))
    columns = {p.column for p in info.value.problems}
    assert columns == {"quantity", "image_count", "ships_from"}


def test_many_bad_rows_are_summarised(tmp_path: Path) -> None:
    tables = tiny_tables()
    listings = pd.concat([tables["listings"]] * 5, ignore_index=True)
    listings["listing_id"] = [f"L{i}" for i in range(len(listings))]
    listings["price"] = "-1"
    tables["listings"] = listings
    with pytest.raises(DataContractError) as info:
        load_marketplace(write_tables(tmp_path / "bad", tables))
    assert "(and 15 more)" in str(info.value)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataContractError, match="is not a folder"):
        load_marketplace(tmp_path / "nowhere")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_listings_read_in_chunks_equal_the_whole_table(tmp_path: Path, fmt: str) -> None:
    from features.contract import iter_listing_chunks, load_context

    folder = write_tables(tmp_path / fmt, tiny_tables(), fmt)
    whole = load_marketplace(folder).listings
    chunks = list(iter_listing_chunks(load_context(folder), rows=1))
    assert len(chunks) >= 2
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole, check_dtype=False)


def test_chunked_read_names_rows_by_place_in_file_and_finds_cross_chunk_duplicates(
        tmp_path: Path) -> None:
    from features.contract import iter_listing_chunks, load_context

    tables = tiny_tables()
    tables["listings"].loc[3, "listing_id"] = "L1"
    folder = write_tables(tmp_path / "dup", tables)
    with pytest.raises(DataContractError, match=r"duplicate listing_id \(seen earlier in the file\)"
                       r"; first bad rows: line 5: 'L1'"):
        list(iter_listing_chunks(load_context(folder), rows=2))
    tables = tiny_tables()
    tables["listings"].loc[2, "currency"] = "XYZ"
    folder = write_tables(tmp_path / "fx", tables)
    with pytest.raises(DataContractError, match=r"line 4 \(listing_id L3\): 'XYZ'"):
        list(iter_listing_chunks(load_context(folder), rows=2))


def test_a_chunked_read_reports_every_problem_in_the_file_at_once(tmp_path: Path) -> None:
    from features.contract import iter_listing_chunks, load_context

    tables = tiny_tables()
    tables["listings"].loc[[0, 3], "price"] = "-1"
    tables["listings"].loc[2, "quantity"] = "0"
    folder = write_tables(tmp_path / "bad", tables)
    with pytest.raises(DataContractError) as refused:
        list(iter_listing_chunks(load_context(folder), rows=1))
    assert len(refused.value.problems) == 2, refused.value
    message = str(refused.value)
    assert "column 'price'" in message and "line 2 (listing_id L1): '-1', " \
        "line 5 (listing_id L4): '-1'" in message, message
    assert "column 'quantity'" in message and "line 4 (listing_id L3)" in message, message
