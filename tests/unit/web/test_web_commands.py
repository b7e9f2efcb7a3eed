"""The dashboard's command picker offers only commands of the catalogue (shared/commands.py) and marks exactly
those that are admin-only as such (a non-admin is never offered one)."""

from __future__ import annotations

import re
from pathlib import Path

from shared.commands import CATALOGUE

SOURCE = (Path(__file__).resolve().parents[3] / "web" / "dashboard" / "pages" / "commands.js").read_text()


def _names(const: str) -> list[str]:
    match = re.search(rf"export const {const} = (?:new Set\()?\[(.*?)\]", SOURCE, re.S)
    assert match, const
    return re.findall(r"'([a-z_]+)'", match.group(1))


def test_the_picker_offers_catalogue_commands_the_cloud_may_send() -> None:
    offered = _names("COMMANDS")
    assert offered and len(offered) == len(set(offered))
    for name in offered:
        assert name in CATALOGUE, name
        spec = CATALOGUE[name]
        assert not spec.lms_only and not spec.shadow_only, name


def test_admin_only_commands_are_marked() -> None:
    offered = set(_names("COMMANDS"))
    admin_only = set(_names("ADMIN_ONLY"))
    assert admin_only == {n for n in offered if CATALOGUE[n].admin_only}
