"""Uploaded files: the type told by the content, the size limit, a safe name; and the
resolution hours by severity read from the environment."""

import pytest

from marketplace import files
from marketplace.config import _hours_by_severity
from marketplace.errors import DomainError

ALL = ("pdf", "png", "jpg", "xlsx", "csv", "txt")


def check(name: str, data: bytes, max_bytes: int = 100) -> tuple[str, str]:
    return files.checked(files.Upload(name, data), ALL, max_bytes, field="f", kinds="kinds")


def test_types_are_told_by_their_content():
    assert check("a.pdf", b"%PDF-1.7") == ("a.pdf", "application/pdf")
    assert check("b.PNG", b"\x89PNG\r\n\x1a\n..") == ("b.PNG", "image/png")
    assert check("c.jpg", b"\xff\xd8\xff\xe0") == ("c.jpg", "image/jpeg")
    assert check("d.xlsx", b"PK\x03\x04rest")[1].endswith("spreadsheetml.sheet")
    assert check("e.csv", "名称,数量\n".encode("gbk")) == ("e.csv", "text/csv")  # GBK export
    assert check("f.txt", "日志".encode()) == ("f.txt", "text/plain")
    for name, data in [
        ("a.pdf", b"<html>"),
        ("b.png", b"%PDF-1.7"),
        ("c.xlsx", b"PK\x05\x06"),  # an empty zip is no workbook
        ("d.txt", b"MZ\x90\x00\x03"),  # an executable renamed
        ("e.csv", b"\xff\xfe\x00a"),
    ]:
        with pytest.raises(DomainError) as refused:
            check(name, data)
        assert str(refused.value.message) == "The file is not what its name says.", name
        assert refused.value.field == "f"


def test_other_types_sizes_and_empty_files_are_refused():
    for name in ("x.exe", "x.html", "x", "x.pdf.exe", "txt"):
        with pytest.raises(DomainError) as refused:
            check(name, b"%PDF")
        assert refused.value.message == "kinds", name
    with pytest.raises(DomainError, match="larger than"):
        check("big.txt", b"x" * 101)
    assert check("ok.txt", b"x" * 100)[0] == "ok.txt"
    with pytest.raises(DomainError, match="empty"):
        check("none.txt", b"")


def test_names_lose_their_folders_and_control_characters():
    assert check("../../etc/passwd.txt", b"x")[0] == "passwd.txt"
    assert check("C:\\Users\\me\\报表.pdf", b"%PDF")[0] == "报表.pdf"
    assert check("a\r\nb.txt", b"x")[0] == "ab.txt"
    assert len(check("n" * 300 + ".txt", b"x")[0]) == files.NAME_LENGTH


def test_resolution_hours_by_severity():
    defaults = {"critical": 24, "high": 72, "normal": 120, "low": 240}
    assert _hours_by_severity("", defaults) == defaults
    assert _hours_by_severity(" critical=8, low=480 ", defaults) == {
        **defaults,
        "critical": 8,
        "low": 480,
    }
    for bad in ("urgent=4", "critical=0", "critical=x", "critical"):
        with pytest.raises(ValueError, match="TICKET_RESOLUTION_HOURS"):
            _hours_by_severity(bad, defaults)
