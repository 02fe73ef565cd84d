"""Rule packs are data: load errors name the file, the rule and the problem; local packs add,
override and disable rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.policy.engine import DEFAULT_PACKS_DIR, PolicyEngine
from gateway.policy.loader import PolicyLoadError, load_rules
from gateway.policy.verdict import Action
from tests.policy.mail import ORDER, message, recipients

RULE = """
[[rules]]
id = "{id}"
description = "test rule"
action = "{action}"
reason = "matched {{evidence}}"
[[rules.match]]
type = "phrases"
phrases.de = ["{phrase}"]
"""


def write_pack(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> PolicyLoadError:
    write_pack(tmp_path / "packs", "bad.toml", text)
    with pytest.raises(PolicyLoadError) as info:
        load_rules(tmp_path / "packs")
    return info.value


def test_shipped_packs_load_and_every_rule_has_examples_both_ways() -> None:
    rules = load_rules(DEFAULT_PACKS_DIR)
    assert len(rules) >= 25
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule.examples_hit, f"{rule.id} has no example that must hit"
        assert rule.examples_miss, f"{rule.id} has no example that must not hit"
    phrase_languages = {
        lang for r in rules for m in r.matchers if m.phrases for lang in m.phrases.by_language
    }
    assert {"de", "en", "fr", "it", "es", "ja"} <= phrase_languages


@pytest.mark.parametrize(
    ("text", "rule", "problem"),
    [
        (RULE.format(id="Not_Kebab", action="reject", phrase="x"), "Not_Kebab", "kebab-case"),
        (RULE.format(id="bad-action", action="destroy", phrase="x"), "bad-action", "action 'destroy'"),
        (
            RULE.format(id="bad-lang", action="reject", phrase="x").replace("phrases.de", "phrases.xx"),
            "bad-lang",
            "unknown language 'xx'",
        ),
        (
            RULE.format(id="bad-regex", action="reject", phrase="x").replace(
                'type = "phrases"\nphrases.de = ["x"]', 'type = "regex"\npatterns = ["(unclosed"]'
            ),
            "bad-regex",
            "does not compile",
        ),
        (
            RULE.format(id="bad-check", action="reject", phrase="x").replace(
                'type = "phrases"\nphrases.de = ["x"]', 'type = "check"\ncheck = "mind-reading"'
            ),
            "bad-check",
            "unknown check 'mind-reading'",
        ),
        (
            RULE.format(id="bad-param", action="reject", phrase="x").replace(
                'type = "phrases"\nphrases.de = ["x"]',
                'type = "check"\ncheck = "attachment-size"\nparams = { max_mb = 3 }',
            ),
            "bad-param",
            "unknown parameter 'max_mb'",
        ),
        (
            RULE.format(id="no-example", action="reject", phrase="x").replace(
                "reason =", 'examples = { hit = ["nope.eml"] }\nreason ='
            ),
            "no-example",
            "example file 'nope.eml' not found",
        ),
        (
            RULE.format(id="typo-key", action="reject", phrase="x").replace(
                "reason =", 'reasn = "x"\nreason ='
            ),
            "typo-key",
            "unknown key(s): reasn",
        ),
        (
            RULE.format(id="both", action="reject", phrase="x").replace("reason =", "score = 3\nreason ="),
            "both",
            "exactly one of 'action' or 'score'",
        ),
        (RULE.format(id="punct-only", action="reject", phrase="!!!"), "punct-only", "no letters or digits"),
    ],
)
def test_load_errors_name_file_rule_and_problem(tmp_path: Path, text: str, rule: str, problem: str) -> None:
    err = load_error(tmp_path, text)
    assert err.file.endswith("bad.toml")
    assert err.rule == rule
    assert problem in err.problem
    assert "bad.toml" in str(err)
    assert rule in str(err)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[[rules]\nid = ")
    assert err.file.endswith("bad.toml")
    assert err.rule is None
    assert "not valid TOML" in err.problem


def test_duplicate_ids_across_files_are_an_error(tmp_path: Path) -> None:
    write_pack(tmp_path / "packs", "a.toml", RULE.format(id="same-id", action="reject", phrase="x"))
    write_pack(tmp_path / "packs", "b.toml", RULE.format(id="same-id", action="reject", phrase="y"))
    with pytest.raises(PolicyLoadError) as info:
        load_rules(tmp_path / "packs")
    assert info.value.rule == "same-id"
    assert info.value.file.endswith("b.toml")
    assert "a.toml" in info.value.problem


def _engine(local: Path | None = None, **kwargs: object) -> PolicyEngine:
    return PolicyEngine.load(PolicyConfig(local_packs_dir=local, **kwargs), MarketplaceConfig())  # type: ignore[arg-type]


def test_local_pack_adds_a_rule(tmp_path: Path) -> None:
    write_pack(
        tmp_path, "local.toml", RULE.format(id="local-no-sale", action="quarantine", phrase="schlussverkauf")
    )
    engine = _engine(tmp_path)
    verdict = engine.evaluate(message(f"Bestellung {ORDER}", f"Zu {ORDER}: Schlussverkauf!"), recipients())
    assert verdict.action is Action.QUARANTINE
    assert [h.rule for h in verdict.hits] == ["local-no-sale"]


def test_local_pack_overrides_fields_of_a_rule_by_id(tmp_path: Path) -> None:
    write_pack(tmp_path, "local.toml", '[[rules]]\nid = "order-id-missing"\naction = "reject"\n')
    engine = _engine(tmp_path)
    rule = engine.rule("order-id-missing")
    assert rule is not None
    assert rule.action is Action.REJECT
    assert rule.description.startswith("Amazon: proactive messages")  # other fields kept
    assert rule.file.name == "local.toml"  # errors about the merged rule point at the override
    verdict = engine.evaluate(message("Ihre Rechnung", "Anbei die Rechnung."), recipients())
    assert verdict.action is Action.REJECT


def test_local_pack_disables_rules_both_ways(tmp_path: Path) -> None:
    write_pack(
        tmp_path, "local.toml", 'disable = ["emoji"]\n\n[[rules]]\nid = "order-id-missing"\nenabled = false\n'
    )
    engine = _engine(tmp_path)
    assert engine.rule("emoji") is None
    assert engine.rule("order-id-missing") is None
    verdict = engine.evaluate(message("Ihre Rechnung 📦", "Anbei die Rechnung."), recipients())
    assert verdict.action is Action.RELAY


def test_local_pack_disabling_an_unknown_rule_is_an_error(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "local.toml", 'disable = ["emojii"]\n')
    with pytest.raises(PolicyLoadError) as info:
        _engine(tmp_path)
    assert info.value.file == str(path)
    assert info.value.rule == "emojii"
    assert "no rule" in info.value.problem


def test_config_disabled_and_actions_apply_and_unknown_ids_fail() -> None:
    engine = _engine(disabled=("emoji",), actions={"order-id-missing": "reject"})
    assert engine.rule("emoji") is None
    rule = engine.rule("order-id-missing")
    assert rule is not None
    assert rule.action is Action.REJECT
    with pytest.raises(PolicyLoadError) as info:
        _engine(actions={"no-such-rule": "reject"})
    assert info.value.rule == "no-such-rule"
    assert "policy.actions" in info.value.file


def test_missing_packs_folder_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError) as info:
        PolicyEngine.load(PolicyConfig(packs_dir=tmp_path / "nope"), MarketplaceConfig())
    assert "does not exist" in info.value.problem
