"""The CSV reader: the compiled parser against Python's float, chunk
boundaries, and messages that do not depend on which path read a chunk."""

import random
import struct

import numpy as np
import pytest

from gaussext import _csv
from gaussext._csv import CsvSource
from gaussext._csvparse import parse_plain_lines
from gaussext._io import DataError


def _parse(cells):
    """The compiled parser on one cell a line: (rows parsed, values)."""
    text = ("\n".join(cells) + "\n").encode()
    out = np.empty((len(cells), 1))
    n = parse_plain_lines(text, 1, np.zeros(1, dtype=np.intp), out)
    return n, out[:, 0]


def _number_texts(seed, count):
    """Number texts of every shape the parser's branches take: float64 reprs
    (17 digits), short decimals, long digit strings (beyond 19 digits),
    exponents near the subnormal and overflow ends, signs."""
    rng = random.Random(seed)
    texts = []
    while len(texts) < count:
        kind = rng.randrange(5)
        if kind == 0:
            value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
            if value != value or abs(value) == float("inf"):
                continue
            text = repr(value)
        elif kind == 1:
            text = repr(rng.gauss(0.0, 1.0) * 10.0 ** rng.randrange(-30, 30))
        elif kind == 2:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 30)))
            cut = rng.randrange(len(digits) + 1)
            text = digits[:cut] + "." + digits[cut:]
            if rng.random() < 0.5:
                text += rng.choice("eE") + str(rng.randrange(-340, 320))
        elif kind == 3:
            text = f"{rng.randrange(10 ** rng.randrange(1, 20))}e{rng.randrange(-40, 40)}"
        else:
            text = f"{rng.random():.{rng.randrange(1, 25)}f}"
        if rng.random() < 0.3:
            text = rng.choice("+-") + text.lstrip("+-")
        texts.append(text)
    return texts


def test_parser_rounds_every_number_as_python_float_does():
    cells = _number_texts(seed=20261129, count=60_000)
    n, values = _parse(cells)
    assert n == len(cells)
    expected = np.array([float(cell) for cell in cells])
    # bit for bit, signed zeros and subnormals included
    assert np.array_equal(values.view(np.uint64), expected.view(np.uint64))


@pytest.mark.parametrize("cell", [
    "9007199254740993",           # 2**53 + 1: halfway between two doubles
    "9007199254740992.5",
    "2.2250738585072011e-308",    # just below the smallest normal
    "2.2250738585072014e-308",
    "4.9e-324", "1e-400", "-0", "0e5", ".5", "5.", "1E+2", "  1.5 ",
    "1.7976931348623157e308", "1.7976931348623159e308",  # the last overflows to inf
    "123456789012345678901234567890", "0.000000000000000000000000000001",
    "1.00000000000000011102230246251565404236316680908203125",  # exactly halfway
])
def test_parser_hard_cases(cell):
    n, values = _parse([cell])
    assert n == 1
    assert values[0].tobytes() == np.float64(float(cell)).tobytes()


@pytest.mark.parametrize("cell", [
    "1_000", "１２", "٣", "nan", "inf", "", "1e", "e5", "1.2.3", "0x10", "+", "-.", "1 2",
    '"1"', "1d5", "1,5",
])
def test_parser_leaves_anything_else_to_the_csv_module(cell):
    assert _parse([cell])[0] == -1


def test_parser_skips_unselected_cells_and_refuses_other_shapes():
    out = np.empty((3, 2))
    skip_middle = np.array([0, -1, 1], dtype=np.intp)
    assert parse_plain_lines(b"1,web 1,2\r\n3,db,4\n", 3, skip_middle, out) == 2
    assert out[:2].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    every = np.arange(2, dtype=np.intp)
    # a blank line, too few cells, too many, a quoted unselected cell
    for text, columns in ((b"1,2\n\n3,4\n", every), (b"1,2\n3\n", every),
                          (b"1,2,3\n", every), (b'1,"a",2\n', skip_middle)):
        assert parse_plain_lines(text, len(columns), columns, out) == -1, text


def _write(path, text):
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def _read(path, features, label=None, chunk_bytes=None):
    chunks = list(CsvSource(path, chunk_bytes).chunks(features, label))
    X = np.concatenate([chunk.X for chunk in chunks])
    labels = None if label is None else np.concatenate([chunk.labels for chunk in chunks])
    lines = [chunk.row_label(i) for chunk in chunks for i in range(chunk.X.shape[0])]
    return X, labels, lines


def test_chunks_of_every_size_read_the_same_rows_and_lines(tmp_path):
    # quoted text with a newline inside, a blank line, CRLF endings, a BOM
    text = ("\ufeffx,note,y,label\r\n1.5,plain,2,0\r\n"
            '2.5,"two\r\nlines, and a comma",3,1\r\n\r\n'
            + "".join(f"{i}.25,n{i},{-i},{i % 2}\r\n" for i in range(40)))
    path = _write(tmp_path / "d.csv", text)
    reference = _read(path, ["x", "y"], "label")
    assert reference[0].shape == (42, 2)
    assert reference[0][:2].tolist() == [[1.5, 2.0], [2.5, 3.0]]
    assert reference[1][:3].tolist() == [0, 1, 0]
    # line numbers count the header, the quoted newline and the blank line
    assert reference[2][:3] == ["line 2", "line 4", "line 6"]
    for chunk_bytes in (1, 7, 16, 50, 1000):
        X, labels, lines = _read(path, ["x", "y"], "label", chunk_bytes)
        assert np.array_equal(X, reference[0]) and np.array_equal(labels, reference[1])
        assert lines == reference[2]


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = _write(tmp_path / "excel.csv", "\ufeffx,y\n1,2\n3,4\n")
    assert CsvSource(path).names == ["x", "y"]
    assert _read(path, ["x"])[0].ravel().tolist() == [1.0, 3.0]


@pytest.mark.parametrize("cell", ["1_000", "１２", "٣٤"])
def test_only_ascii_decimals_are_numbers(tmp_path, cell):
    path = _write(tmp_path / "d.csv", f"x,y\n1,2\n{cell},3\n")
    with pytest.raises(DataError) as raised:
        _read(path, ["x", "y"])
    assert str(raised.value) == f"{path}, line 3, column 'x': {cell!r} is not a number"


@pytest.mark.parametrize("chunk_bytes", [None, 12])
@pytest.mark.parametrize("body, message", [
    ("1,2\n3,abc\n", "line 3, column 'y': 'abc' is not a number"),
    ("1,2\n3,\n", "line 3, column 'y': empty cell (1 such cell(s) in this column)"),
    ("1,2\n1e999,2\n", "line 3, column 'x': '1e999' is not a finite number "
                       "(1 such cell(s) in this column)"),
    ("1,2\n3,4,5\n", "line 3: 3 cell(s), but the header names 2 columns"),
])
def test_messages_name_file_line_and_column_whatever_the_chunking(tmp_path, body, message,
                                                                 chunk_bytes):
    path = _write(tmp_path / "d.csv", "x,y\n" + body)
    with pytest.raises(DataError) as raised:
        _read(path, ["x", "y"], chunk_bytes=chunk_bytes)
    assert str(raised.value) == f"{path}, {message}"


def test_a_bad_label_is_named(tmp_path):
    path = _write(tmp_path / "d.csv", "x,y\n1,0\n2,1\n3,2\n")
    with pytest.raises(DataError) as raised:
        _read(path, ["x"], "y")
    assert str(raised.value) == (f"{path}, line 4, column 'y': label '2' is not 0 or 1 "
                                 "(1 = anomaly, 0 = normal; 1 such label(s))")


def test_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"x,y\n1,2\n\xff,3\n")
    with pytest.raises(DataError) as raised:
        _read(str(path), ["x", "y"])
    assert str(raised.value) == (f"{path} is not UTF-8 text (invalid start byte at byte 8); "
                                 "is it a CSV file?")


def test_header_only_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="has a header but no data rows"):
        _read(_write(tmp_path / "h.csv", "x,y\n\n"), ["x"])
    with pytest.raises(DataError, match="is empty: a CSV file needs a header row"):
        CsvSource(_write(tmp_path / "e.csv", ""))


def test_numeric_columns_are_judged_on_the_first_lines(tmp_path, monkeypatch):
    text = "host,x\n" + "web,1\n" * 5 + "7,2\n"
    path = _write(tmp_path / "d.csv", text)
    assert CsvSource(path).numeric_names() == ["host", "x"]
    monkeypatch.setattr(_csv, "SAMPLE_BYTES", 20)
    assert CsvSource(path).numeric_names() == ["x"]
