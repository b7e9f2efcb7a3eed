"""Reconnect storms, small: after a restart of the server they use, every client is back, none was refused.

The storms of ``bench/reconnect_storm.py`` (which times them, at full size, beside their baselines), with fewer
clients and no timing asserted:

* simulated agents (real paho clients, the agent's reconnect rule) after a site broker restart that keeps it down
  long enough for their backoff to grow: every agent's new announcement reaches the LMS, no CONNACK refused;
* ClassTop desktop clients (the seed's protocol and fixed 5 s reconnect, each from its own address) after an LMS
  restart: every client online again at the LMS, no handshake refused (the per-address limits at their defaults);
* LMS cloud links (the LMS's own ``CloudLink``) after an IoT Core stand-in restart: every link connected again,
  none refused, none taken over (a duplicate client id).
"""

from __future__ import annotations

import pytest

from bench.reconnect_storm import agents_storm, classtop_storm, links_storm

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: give up (and fail) when someone is not back after this long
GIVE_UP_S = 120.0


def test_agents_are_all_back_after_a_site_broker_restart() -> None:
    storm = agents_storm(100, 1, GIVE_UP_S, outage_s=3.0)
    assert storm.missing == 0 and len(storm.storm_s) == 1
    assert storm.retried > 0  # they did find the broker down and retried (the storm happened)
    assert sum(storm.refused.values()) == 0, storm.refused


def test_classtop_clients_are_all_back_after_an_lms_restart() -> None:
    storm = classtop_storm(40, 1, GIVE_UP_S)
    assert storm.missing == 0 and len(storm.storm_s) == 1
    assert sum(storm.refused.values()) == 0, storm.refused


def test_lms_cloud_links_are_all_back_after_an_iot_core_restart_none_taken_over() -> None:
    storm = links_storm(10, 1, GIVE_UP_S)
    assert storm.missing == 0 and len(storm.storm_s) == 1
    assert sum(storm.refused.values()) == 0, storm.refused  # no CONNACK refusal, no SESSION_TAKEN_OVER
