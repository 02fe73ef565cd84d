"""The URL pre-scan in gateway.policy.content.text_links never hides a link the full pattern finds."""

from __future__ import annotations

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy import content

pieces = st.sampled_from(["http://", "https://x.example/", "www.", "www2.", ".com", ".co.uk", ".de-", ".dex",
                          "shop", "a-b", "@", " ", ".", "/", "ſ", "\u200b", "Ｗｗｗ．", "．ｃｏｍ", "K", "x",
                          "ftp://", "ｈｔｔｐｓ：／／"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=20).map(lambda parts: "".join(parts)))
def test_prescan_is_only_a_shortcut(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    with_prescan = content.text_links(text)
    with monkeypatch.context() as m:
        m.setattr(content, "_URL_HINT", regex.compile(""))  # matches everywhere: the full scan always runs
        without = content.text_links(text)
    assert with_prescan == without
