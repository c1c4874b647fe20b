"""Labels registered at import time (audit actions, notification kinds and their parameters)
are rendered in the reader's language when shown: a label built from another label keeps no
inner word in English ("订单行：Mark as delivered" was one)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask_babel import force_locale

from marketplace import notifications
from marketplace.audit import ACTION_LABELS
from tests.functional.demo.test_chinese_pages import ALLOWED

WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def english(text: str) -> set[str]:
    return {w for w in WORD.findall(re.sub(r"%\(\w+\)[sd]", "", text)) if w not in ALLOWED}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_label_reads_in_the_readers_language(app: Flask, lang: str) -> None:
    labels = {
        **{f"action {k}": v for k, v in ACTION_LABELS.items()},
        **{f"kind {k}": v for k, v in notifications.KIND_LABELS.items()},
        **{
            f"{param} {k}": v
            for param, values in notifications.PARAM_LABELS.items()
            for k, v in values.items()
        },
    }
    assert len(labels) > 150
    with app.test_request_context(), force_locale(lang):
        shown = {key: str(label) for key, label in labels.items()}
    if lang == "zh":
        assert {k: v for k, v in shown.items() if english(v)} == {}
        assert shown["action order_line.deliver"] == "订单行：标记为已交付"
        assert shown["action pool.reject"] == "资源池：不予入库"
        assert shown["action package.supersede"] == "转型包：已被新版本取代"
    else:
        assert shown["action order_line.deliver"] == "Order line: Mark as delivered"
