"""Video links on the LMS carry a short-lived ticket bound to their path, never an API token (issue 11, low item:
tokens in URLs leak into logs, browser history and Referer headers). Authorisation is checked before any video
is proxied, so an LMS without cameras shows it: a path that passes it answers 404 for an unknown agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.brokers import Broker
from tests.integration.cctv_lms.camera_site import lms_process
from tests.integration.lms.lms_harness import LmsProcess

pytestmark = pytest.mark.integration

LIVE = "/api/cctv/agent-9/cameras/door/live"
PLAY = "/api/cctv/agent-9/recordings/door/door_20260101-080000-000.mp4/play"


@pytest.fixture
def lms(tmp_path: Path, site_broker: Broker) -> Iterator[LmsProcess]:
    with lms_process(site_broker, tmp_path / "lms") as proc:
        yield proc


def test_video_links_take_path_bound_tickets_not_api_tokens(lms: LmsProcess) -> None:
    viewer = lms.http.post("/api/tokens", json={"name": "wall", "role": "viewer"}).json()["data"]["token"]
    with httpx.Client(base_url=lms.base_url, timeout=30.0) as anon:  # no Authorization header, like an <img>
        in_url = anon.get(LIVE, params={"token": viewer})
        assert in_url.status_code == 401, f"the LMS accepted an API token in a video URL ({in_url.status_code})"
        assert "ticket" in in_url.json()["error"]

        # a viewer mints a ticket (its token in the Authorization header, as for any API call) ...
        auth = {"Authorization": f"Bearer {viewer}"}
        minted = anon.post("/api/cctv/tickets", json={"path": LIVE}, headers=auth)
        assert minted.status_code == 200, minted.text
        data = minted.json()["data"]
        assert viewer not in data["url"] and data["url"].startswith(f"{LIVE}?ticket=") and data["expires_in_s"] > 0
        # ... which opens that path (here: the unknown agent's 404 from behind the check), and no other
        assert anon.get(data["url"]).json()["error_code"] == "unknown_agent"
        other = anon.get(LIVE.replace("door", "hall"), params={"ticket": data["ticket"]})
        assert other.status_code == 401 and "ticket" in other.json()["error"]
        forged = anon.get(LIVE, params={"ticket": data["ticket"][:-4] + "AAAA"})
        assert forged.status_code == 401
        # playback keeps its own query parameters beside the ticket
        play = anon.post("/api/cctv/tickets", json={"path": PLAY}, headers=auth).json()["data"]
        assert anon.get(play["url"] + "&t=1.5").json()["error_code"] == "unknown_agent"

        # minting needs a token, in the header; only video paths get tickets
        assert anon.post("/api/cctv/tickets", json={"path": LIVE}).status_code == 401
        assert anon.post("/api/cctv/tickets", json={"path": LIVE}, params={"token": viewer}).status_code == 401
        bad = anon.post("/api/cctv/tickets", json={"path": "/api/tokens"}, headers=auth)
        assert bad.status_code == 422 and bad.json()["error_code"] == "bad_payload"
        # the header still works for clients that can send one
        assert anon.get(LIVE, headers=auth).json()["error_code"] == "unknown_agent"
