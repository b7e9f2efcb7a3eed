"""What the overview summary holds of a site and of a ClassTop client, and how the overview reads it back
(``repositories/site_summary.py`` stores it, ``services/site_summaries.py`` keeps it current).

A site's entry: ``v`` LMS version, ``t`` agents, ``o`` online, ``h`` its last heartbeat when the entry was written,
``r`` the site item's revision it was made from, and only when they say something: ``n`` name, ``a`` approval (when
not approved), ``c`` certificates expiring, ``l``/``lc``/``lr`` its cloud link as IoT Core's lifecycle events last
told it (state, when, why), ``f`` the full heartbeat period its LMS states, ``d`` (1): ``h`` is the site's exact last
heartbeat and the clock decides its silence (set by the minute's pass once that heartbeat is :func:`watch_after` old,
so a silent site shows down ``Site.stale_after()`` after its last heartbeat whenever the pass runs). A client's
entry: ``s`` its last sync (absent: never), ``p`` (1) pending approval.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.domain.approval import Approval
from chalicelib.domain.site import STALE_AFTER_S, Site

# a site is *reporting* while its last heartbeat is at most ``Site.stale_after()`` old (domain/site.py:
# STALE_AFTER_S for an LMS that states no period, else 2.5 of the period it states)
#: the minute's pass stores every site's last heartbeat (``beats``) again when one is this much older than the site's
BEATS_REFRESH_S = 600.0
#: how often the minute's pass runs (``evaluate_alerts``)
PASS_S = 60.0
#: a site whose stored heartbeat is older than this is down even if no pass marked it (the pass stopped); this for an
#: LMS that states no period (:func:`trusted_for` per site)
TRUSTED_S = STALE_AFTER_S + BEATS_REFRESH_S + PASS_S
#: the pass gives a site's entry its exact last heartbeat and lets the clock decide its silence (``d``) once that
#: heartbeat is this old: the next pass may come too late (a heartbeat arriving after it writes the entry again); this
#: for an LMS that states no period (:func:`watch_after` per site)
WATCH_AFTER_S = STALE_AFTER_S - PASS_S
_FRESH = (("within_1h", 3600.0), ("within_24h", 86400.0))

Entry = dict[str, Any]


def site_entry(site: Site, *, down: bool) -> Entry:
    entry: Entry = {"v": site.lms_version, "t": site.agent_count, "o": site.online_count,
                    "h": site.last_heartbeat, "r": site.revision or 0}  # fmt: skip
    optional = {"n": site.name, "a": None if site.approval is Approval.APPROVED else site.approval.value,
                "c": list(site.certificates_expiring or []) or None, "d": 1 if down else None,
                "l": site.link_state, "lc": site.link_changed_at, "lr": site.link_reason,
                "f": site.full_period_s}  # fmt: skip
    return entry | {k: v for k, v in optional.items() if v is not None}


def entry_site(site_id: str, entry: Entry, beat: float | None) -> Site:
    """The site as far as its entry tells (what the overview's presence per hop needs), heard from at the newest
    heartbeat the summary holds."""
    return Site(site_id, max(float(entry.get("h") or 0), float(beat or 0)), str(entry.get("v") or ""),
                int(entry.get("t") or 0), int(entry.get("o") or 0), name=entry.get("n"),
                approval=Approval(entry.get("a") or Approval.APPROVED.value),
                certificates_expiring=list(entry.get("c") or []) or None, link_state=entry.get("l"),
                link_changed_at=None if entry.get("lc") is None else float(entry["lc"]),
                link_reason=entry.get("lr"),
                full_period_s=None if entry.get("f") is None else float(entry["f"]))  # fmt: skip


def watch_after(site: Site) -> float:
    """How old the site's last heartbeat is when the pass gives its entry ``d`` (:data:`WATCH_AFTER_S`, per site)."""
    return site.stale_after() - PASS_S


def trusted_for(site: Site) -> float:
    """How old the site's stored heartbeat may be before it shows down unmarked (:data:`TRUSTED_S`, per site)."""
    return site.stale_after() + BEATS_REFRESH_S + PASS_S


def watched(site: Site, now: float) -> bool:
    """Whether the site's entry should carry its exact last heartbeat (``d``): it may turn silent before the next
    pass."""
    return now - site.last_heartbeat > watch_after(site)


def shown(entry: Entry | None) -> Entry | None:
    """What of an entry the overview shows: its heartbeat only when the site is down (else the stored one ages), and
    whether its link went down after that heartbeat (a later heartbeat shows it up again)."""
    if entry is None:
        return None
    out = {k: _number(v) for k, v in entry.items() if k not in ("r", "h")}
    if entry.get("d"):
        out["h"] = _number(entry.get("h"))
    out["x"] = entry_site("", entry, None).link_down_since_heartbeat
    return out


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def client_entry(pending: bool, last_sync_at: float | None) -> Entry:
    entry: Entry = {} if last_sync_at is None else {"s": last_sync_at}
    if pending:
        entry["p"] = 1
    return entry


def freshness(clients: Iterable[tuple[bool, float | None]], now: float) -> dict[str, int]:
    """ClassTop clients (pending, last sync) by the age of their last sync."""
    buckets = {"total": 0, "pending": 0, "never": 0, "within_1h": 0, "within_24h": 0, "older": 0}
    for pending, last_sync_at in clients:
        buckets["total"] += 1
        buckets["pending"] += pending
        if last_sync_at is None:
            buckets["never"] += 1
            continue
        age = now - last_sync_at
        buckets[next((name for name, limit in _FRESH if age <= limit), "older")] += 1
    return buckets
