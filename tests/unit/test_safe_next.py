import pytest

from marketplace.security import is_safe_next


@pytest.mark.parametrize("target", ["/dashboard", "/org?x=1", "/admin/organisations?q=%E5%8E%A6"])
def test_local_paths_are_safe(target):
    assert is_safe_next(target)


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "dashboard",
        "/\tevil",
        "/ok\r\nSet-Cookie: x=1",
        "http:/evil.example",
    ],
)
def test_forged_next_is_refused(target):
    assert not is_safe_next(target)
