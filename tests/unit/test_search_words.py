"""How a query's words are compiled for the index (``search_index.compile_query``): the
tokens each reading must find, and the two databases' query syntax made from them."""

import pytest

from marketplace.catalog.search_index import _fts5, _tsquery, compile_query, tokens

THESAURUS = {"进销存": ["erp"], "云采": ["云端 采集"], "上云": ["设备联网"]}


def readings(query: str) -> list[tuple[tuple[str, ...], bool]]:
    match = compile_query(query, THESAURUS)
    assert match is not None
    return [(v.tokens, v.prefix) for term in match.terms for v in term]


def test_a_word_is_the_phrase_of_its_pairs_and_a_meaning_another_reading():
    assert readings("上云") == [(("上云",), False), (("设备", "备联", "联网"), False)]


def test_a_meaning_of_several_runs_is_the_phrase_the_index_holds_for_its_text():
    # the index puts 化工's last character between it and erp (化工ERP → 化工 工 erp)
    assert tokens("化工ERP") == ["化工", "工", "erp"]
    assert (("化工", "工", "erp"), True) in readings("化工进销存")
    # Chinese runs apart, as written, or together: spaces are ignored
    assert (("云端", "端", "采集"), False) in readings("云采")
    assert (("云端", "端采", "采集"), False) in readings("云采")


@pytest.mark.parametrize(
    "query",
    ['"', "*", "NEAR", "OR", "-", "'", "\\", ":", "{title}: 看板", "ＡＮＤ 看板", "预测 OR 看板"],
)
def test_hostile_words_reach_neither_syntax_as_syntax(query):
    match = compile_query(query, THESAURUS)
    if match is None:  # only punctuation: nothing is searched for
        return
    for word in (t for term in match.terms for v in term for t in v.tokens):
        assert word.isalnum(), word  # letters, digits and Chinese characters only
    assert _fts5(match).count('"') % 2 == 0
    assert _tsquery(match).count("'") % 2 == 0
