"""The web apps' message catalogues (zh-CN and en): the same keys and placeholders in both languages, and every
key the code uses exists (the kit's in web/common/messages, an app's in its own messages/ or the kit's)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[3] / "web"
LANGS = ("en", "zh-CN")
#: (code directory, its catalogue directories, in load order)
APPS = {
    "common": (WEB / "common", (WEB / "common" / "messages",)),
    "dashboard": (WEB / "dashboard", (WEB / "common" / "messages", WEB / "dashboard" / "messages")),
    "console": (WEB / "console", (WEB / "common" / "messages", WEB / "console" / "messages")),
}
#: t('literal.key' ...) and a form field's patternMessage: 'literal.key' (translated by the form)
USED = re.compile(r"""\bt\(\s*'([^']+)'|patternMessage:\s*'([^']+)'""")
#: any call of t( whose key is not a literal (so the check above would miss it)
DYNAMIC = re.compile(r"""\bt\(\s*(?!'|field\.patternMessage\b)""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue(folder: Path, lang: str) -> dict[str, str]:
    data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def used_keys(code: Path) -> dict[str, set[str]]:
    """key -> the files using it (web/common's own code is checked with the kit)."""
    keys: dict[str, set[str]] = {}
    for source in code.rglob("*.js"):
        if "vendor" in source.relative_to(WEB).parts:
            continue
        text = re.sub(r"(^|\s)//.*$", "", source.read_text(encoding="utf-8"), flags=re.M)  # not comments
        for match in USED.finditer(text):
            keys.setdefault(match.group(1) or match.group(2), set()).add(source.name)
    return keys


@pytest.mark.parametrize("folder", [WEB / "common" / "messages", WEB / "dashboard" / "messages",
                                    WEB / "console" / "messages"], ids=["common", "dashboard", "console"])
def test_both_languages_have_the_same_keys_and_placeholders(folder: Path) -> None:
    en, zh = (catalogue(folder, lang) for lang in LANGS)
    assert set(en) == set(zh), {"only en": set(en) - set(zh), "only zh-CN": set(zh) - set(en)}
    for key in en:
        assert en[key].strip() and zh[key].strip(), f"{key}: empty message"
        assert set(PLACEHOLDER.findall(en[key])) == set(PLACEHOLDER.findall(zh[key])), key


@pytest.mark.parametrize("app", APPS)
def test_every_key_used_exists_and_every_key_is_used(app: str) -> None:
    code, folders = APPS[app]
    known: set[str] = set()
    for folder in folders:
        known |= set(catalogue(folder, "en"))
    used = used_keys(code)
    missing = {k: sorted(files) for k, files in used.items() if k not in known}
    assert not missing, missing
    # the kit's messages may be used by the kit or by any app (form.bad_id: ids are the apps' business)
    anywhere = set(used_keys(WEB)) if app == "common" else set(used)
    own = set(catalogue(folders[-1], "en"))
    assert not own - anywhere, f"unused messages in {folders[-1]}: {sorted(own - anywhere)}"


def test_every_translation_call_names_a_literal_key() -> None:
    for source in [*WEB.joinpath("common").rglob("*.js"), *WEB.joinpath("dashboard").rglob("*.js"),
                   *WEB.joinpath("console").rglob("*.js")]:
        for n, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            if "export function t(" in line:
                continue
            assert not DYNAMIC.search(line), f"{source.name}:{n}: t() with a computed key: {line.strip()}"


def test_the_kit_holds_no_dashboard_code() -> None:
    """web/common is shared with the LMS console: it imports nothing of an app."""
    for source in WEB.joinpath("common").rglob("*.js"):
        text = source.read_text(encoding="utf-8")
        assert "dashboard" not in re.sub(r"//.*", "", text), source
