"""Reconnect storms: everyone back after a restart, beside the same clients connecting with no storm, in one run.

Three storms, each beside its baseline (the same clients connecting to a running server that nobody else is
reconnecting to), medians over ``--runs``:

1. **agents**: ``--agents`` (2,000) simulated agents (``bench/_sim_agents.py``: real paho clients, one helper
   process, the agent's reconnect rule: ``shared.backoff`` equal jitter between 0.5 s and 30 s), heartbeat every
   5 s, metrics every 15 s, on a real site broker and a real LMS. The site broker is restarted (SIGTERM, started
   again on its port, its persistence kept); measured: the seconds from the broker listening again until the
   LMS's API (``GET /api/clients/online``) shows every agent with its new connection's announcement (its
   ``version`` counts connections: a retained status of the old connection does not count), the broker's and
   the LMS's CPU meanwhile (cores: CPU seconds over wall seconds), and the connections the broker refused
   (CONNACK failures: a rate limit, a quota) or let time out. Baseline: the same agents connecting (the helper
   starts) with the broker and the LMS up.
2. **classtop**: ``--classtop`` (500) ClassTop desktop clients (``bench/_classtop_fleet.py``: the seed's
   protocol, a fixed 5 s reconnect wait, each from its own loopback address) on a real LMS with its default
   per-address limits (``[classtop] client_policy = "open"``). The LMS is restarted (SIGTERM, started again);
   measured from the LMS answering again until it shows every client online (connected since the restart), the
   LMS's CPU meanwhile, and the handshakes it refused (HTTP status) or closed. Baseline: the same clients
   connecting to a running LMS.
3. **links**: ``--sites`` (100) LMS cloud links (the LMS's own :class:`edge.lms.cloud.link.CloudLink`, awscrt MQTT 5
   over mutual TLS, its reconnect rule: full jitter between 1 s and 60 s; all in this process) to the IoT Core
   stand-in (``infra.local.iot_access.stand_in_broker``, each site's certificate and access as enrolment grants
   them). The stand-in is restarted; measured: the seconds until every link is connected again, the spread of
   their reconnections, the broker's CPU, and connections refused or taken over (a duplicate client id).
   Baseline: the same links connecting to the running stand-in.

Usage: ``python bench/reconnect_storm.py [--agents 2000] [--classtop 500] [--sites 100] [--runs 3]
[--only agents classtop links]``. Exits non-zero when any storm left someone out, refused anyone, or took longer
than ``--limit-s`` (30 s).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from awscrt import mqtt5

from bench._classtop_fleet import FleetCounters, client_uuids
from bench._results import Figure, write_results
from bench._sim_agents import Site
from edge.lms.cloud.link import CloudLink
from edge.lms.config import CloudLinkSettings
from edge.lms.config.cloud_settings import CloudTlsSettings
from edge.lms.enrolment.broker_credentials import DynsecControl
from infra.aws.policy_eval import IotPolicy
from infra.local.iot_access import SUPERVISOR_CLIENT, StandInAccess, iot_core_settings, site_policy, stand_in_broker
from infra.local.process import wait_for
from shared import topics
from shared.names import Namespace

FLEET = Path(__file__).resolve().parent / "_classtop_fleet.py"
NS = Namespace("bench", "dev")
#: how often the bench asks the LMS's API who is online
POLL_S = 0.25


@dataclass
class Storm:
    """One storm's figures over its runs."""

    what: str
    baseline_s: list[float] = field(default_factory=list)
    storm_s: list[float] = field(default_factory=list)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # "broker (baseline)", "broker (storm)", ... -> cores
    refused: Counter[str] = field(default_factory=Counter)  # refusal kind -> count, during the storms
    notes: list[str] = field(default_factory=list)
    missing: int = 0  # clients not back when the bench gave up
    retried: int = 0  # connection attempts that found the server down (the clients did retry during the outage)

    def add_cpu(self, name: str, cores: float) -> None:
        self.cpu.setdefault(name, []).append(cores)


class CpuWatch:
    """CPU seconds of some processes from now on; :meth:`cores` divides them by the wall time."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items() if pid is not None}
        self.start = {name: _cpu_s(p) for name, p in self.procs.items()}
        self.t0 = time.monotonic()

    def cores(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.t0, 1e-6)
        return {name: (_cpu_s(p) - self.start[name]) / wall for name, p in self.procs.items()}


def _cpu_s(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


def _until(what: str, predicate: Callable[[], bool], timeout_s: float, every_s: float = POLL_S) -> float:
    """Seconds until ``predicate`` holds (polled every ``every_s``); raises after ``timeout_s``."""
    t0 = time.monotonic()
    wait_for(what, predicate, timeout_s, every_s=every_s)
    return time.monotonic() - t0


# ---------------------------------------------------------------- 1. agents after a site broker restart


def _all_announced(site: Site, connection: int) -> bool:
    return site.announced(connection) >= site.count


def agents_storm(count: int, runs: int, timeout_s: float, outage_s: float = 0.0) -> Storm:
    """``outage_s``: the broker stays down this long (an upgrade, a crash before its supervisor restarts it), so the
    agents' backoff has grown when it is back."""
    storm = Storm(f"{count} agents, site broker restart" + (f" after {outage_s:g} s down" if outage_s else ""))
    with Site(count, heartbeat_s=5.0, metrics_s=15.0, simulate=False) as site:
        site.start_lms(wait_online=False)
        assert site.lms is not None
        for run in range(runs):
            first = 2 * run + 1  # the helper's connections count from here: baseline ``first``, storm ``first + 1``
            watch = CpuWatch({"broker": site.broker.pid, "LMS": site.lms.pid})
            site.start_simulator(first, wait=False)
            storm.baseline_s.append(_until("every agent announced", functools.partial(_all_announced, site, first),
                                           timeout_s))  # fmt: skip
            for name, cores in watch.cores().items():
                storm.add_cpu(f"{name} (baseline)", cores)
            time.sleep(1.0)  # the helper's counters file catches up
            before = site.sim_counters()
            stopped = time.monotonic()
            site.broker.stop()
            time.sleep(outage_s)
            site.broker.start()  # same port, persistence kept
            storm.notes.append(f"broker down {time.monotonic() - stopped:.2f} s")
            watch = CpuWatch({"broker": site.broker.pid, "LMS": site.lms.pid})
            try:
                storm.storm_s.append(_until("every agent announced again",
                                            functools.partial(_all_announced, site, first + 1), timeout_s))  # fmt: skip
            except TimeoutError:
                storm.missing += count - site.announced(first + 1)
                raise
            finally:
                for name, cores in watch.cores().items():
                    storm.add_cpu(f"{name} (storm)", cores)
                time.sleep(1.0)
                after = site.sim_counters()
                storm.refused["CONNACK refused"] += after.refused - before.refused
                storm.refused["TCP connect timed out"] += after.tcp_timeouts - before.tcp_timeouts
                storm.retried += after.tcp_refused - before.tcp_refused
                site.stop_simulator()
    return storm


# ---------------------------------------------------------------- 2. ClassTop clients after an LMS restart


def classtop_storm(count: int, runs: int, timeout_s: float) -> Storm:
    storm = Storm(f"{count} ClassTop clients, LMS restart")
    uuids = set(client_uuids(count))
    with Site(0, simulate=False) as site:
        site.start_lms(wait_online=False, classtop={"client_policy": "open"})
        assert site.lms is not None
        lms = site.lms
        counters_file = site.work / "classtop-counters.json"

        def online_since(t_wall: float) -> int:
            clients = site.api("GET", "/api/clients/online")["data"]["clients"]
            return sum(1 for c in clients if c["uuid"] in uuids and (c.get("last_seen") or 0) >= t_wall)

        def all_online_since(t_wall: float) -> bool:
            return online_since(t_wall) >= count

        for _run in range(runs):
            lms.stop()
            lms.start()  # a fresh LMS with nobody connected (the clients of the last run are gone)
            wait_for("the LMS's API", site.answers, 60, every_s=0.1, watch=[lms])
            since = time.time()
            watch = CpuWatch({"LMS": lms.pid})
            fleet = subprocess.Popen([sys.executable, str(FLEET), "--base", f"ws://127.0.0.1:{site.lms_port}",
                                      "--count", str(count), "--counters", str(counters_file)])  # fmt: skip
            try:
                everyone = functools.partial(all_online_since, since)
                storm.baseline_s.append(_until("every ClassTop client online", everyone, timeout_s))
                for name, cores in watch.cores().items():
                    storm.add_cpu(f"{name} (baseline)", cores)
                time.sleep(1.0)
                before = FleetCounters.read(counters_file)
                since = time.time()
                t0 = time.monotonic()
                lms.stop()
                t1 = time.monotonic()
                lms.start()
                wait_for("the LMS's API", site.answers, 60, every_s=0.05, watch=[lms])
                storm.notes.append(f"LMS stopped in {t1 - t0:.2f} s, answering {time.monotonic() - t1:.2f} s after "
                                   "it started again")  # fmt: skip
                watch = CpuWatch({"LMS": lms.pid})
                try:
                    everyone = functools.partial(all_online_since, since)
                    storm.storm_s.append(_until("every ClassTop client back", everyone, timeout_s))
                except TimeoutError:
                    storm.missing += count - online_since(since)
                    raise
                finally:
                    for name, cores in watch.cores().items():
                        storm.add_cpu(f"{name} (storm)", cores)
                    time.sleep(1.0)
                    after = FleetCounters.read(counters_file)
                    storm.retried += after.failed - before.failed
                    for status, n in after.refused.items():
                        storm.refused[f"HTTP {status}"] += n - before.refused.get(status, 0)
                    for code, n in after.closed.items():
                        if code not in ("1000", "1001", "1006", "1012"):  # a normal close, a server going away
                            storm.refused[f"closed {code}"] += n - before.closed.get(code, 0)
            finally:
                fleet.terminate()
                fleet.wait(10)
    return storm


# ---------------------------------------------------------------- 3. LMS cloud links after an IoT Core restart


class CountedLink(CloudLink):
    """The LMS's cloud link, counting why the broker refused or dropped it."""

    def __init__(self, settings: CloudLinkSettings, *, client_id: str) -> None:
        super().__init__(settings, client_id=client_id)
        self.refusals: Counter[str] = Counter()
        self.connected_at: float | None = None

    def _on_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        connack = data.connack_packet
        if connack is not None:
            self.refusals[f"CONNACK {getattr(connack.reason_code, 'name', connack.reason_code)}"] += 1
        super()._on_failure(data)

    def _on_disconnection(self, data: mqtt5.LifecycleDisconnectData) -> None:
        packet = data.disconnect_packet
        if packet is not None:
            self.refusals[f"DISCONNECT {getattr(packet.reason_code, 'name', packet.reason_code)}"] += 1
        super()._on_disconnection(data)

    def _set_connected(self) -> None:
        self.connected_at = time.monotonic()
        super()._set_connected()


@contextlib.contextmanager
def stand_in_with_sites(count: int) -> Iterator[tuple[Callable[[], None], list[CountedLink], Callable[[], int]]]:
    """The IoT Core stand-in with ``count`` enrolled sites; yields (restart, the sites' links (not started), its
    pid)."""
    from tests.fixtures.iot_core import site_certificate

    work = Path(tempfile.mkdtemp(prefix="ct-bench-storm-"))
    work.chmod(0o755)
    broker, ca = stand_in_broker(work / "broker", work / "iot")
    control: DynsecControl | None = None
    try:
        broker.start()
        control = DynsecControl(iot_core_settings(work / "iot", SUPERVISOR_CLIENT, broker.host, broker.port))
        control.start()
        access = StandInAccess(control, IotPolicy(site_policy(NS)))
        links = []
        for i in range(count):
            site_id = f"site-{i:03d}"
            thing = topics.site_thing_name(NS, site_id)
            cert = site_certificate(ca, work, thing)
            access.grant_site(thing, {"site_id": site_id})
            settings = CloudLinkSettings(host=broker.host, port=broker.port, client_id=thing,
                                         tls=CloudTlsSettings(ca_file=ca.ca_file, cert_file=cert.cert_file,
                                                              key_file=cert.key_file))  # fmt: skip
            link = CountedLink(settings, client_id=thing)
            link.subscribe(topics.site_down_filter(NS, site_id), lambda _t, _p: None)
            links.append(link)
        control.stop()
        control = None

        def restart() -> None:
            broker.stop()
            broker.start()

        yield restart, links, lambda: broker.pid or 0
    finally:
        if control is not None:
            control.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def links_storm(count: int, runs: int, timeout_s: float) -> Storm:
    storm = Storm(f"{count} LMS cloud links, IoT Core stand-in restart")
    with stand_in_with_sites(count) as (restart, links, broker_pid):
        me = os.getpid()
        for _run in range(runs):
            watch = CpuWatch({"broker": broker_pid(), "links (this process)": me})
            for link in links:
                link.start()
            storm.baseline_s.append(_until("every link connected", lambda: all(k.connected for k in links),
                                           timeout_s, 0.01))  # fmt: skip
            for name, cores in watch.cores().items():
                storm.add_cpu(f"{name} (baseline)", cores)
            before = sum((k.refusals for k in links), Counter[str]())
            failures = sum(k.stats.connect_failures for k in links)
            restart()
            t0 = time.monotonic()
            watch = CpuWatch({"broker": broker_pid(), "links (this process)": me})
            try:
                storm.storm_s.append(_until("every link connected again", lambda: all(k.connected for k in links),
                                            timeout_s, 0.01))  # fmt: skip
            except TimeoutError:
                storm.missing += sum(1 for k in links if not k.connected)
                raise
            finally:
                for name, cores in watch.cores().items():
                    storm.add_cpu(f"{name} (storm)", cores)
                back = sorted(k.connected_at - t0 for k in links if k.connected_at is not None and k.connected_at > t0)
                if back:
                    storm.notes.append(f"reconnections spread over {back[0]:.2f}-{back[-1]:.2f} s "
                                       f"(p50 {statistics.median(back):.2f} s)")  # fmt: skip
                after = sum((k.refusals for k in links), Counter[str]())
                storm.retried += sum(k.stats.connect_failures for k in links) - failures
                for reason, n in (after - before).items():
                    if "SERVER_SHUTTING_DOWN" not in reason:  # the restart itself
                        storm.refused[reason] += n
                threads = [threading.Thread(target=k.stop) for k in links]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
    return storm


# ---------------------------------------------------------------- report


def report(storms: list[Storm], limit_s: float) -> bool:
    ok = True
    print(f"\nreconnect storms (cpu count {os.cpu_count()}); medians over the runs, seconds; CPU in cores")
    for s in storms:
        print(f"\n{s.what}: {len(s.storm_s)} run(s)")
        if s.baseline_s:
            print(f"  {'connect with no storm (baseline)':44} median {statistics.median(s.baseline_s):7.2f} s  "
                  f"max {max(s.baseline_s):7.2f} s")  # fmt: skip
        if s.storm_s:
            print(f"  {'everyone back after the restart':44} median {statistics.median(s.storm_s):7.2f} s  "
                  f"max {max(s.storm_s):7.2f} s")  # fmt: skip
        if s.baseline_s and s.storm_s:
            ratio = statistics.median(s.storm_s) / statistics.median(s.baseline_s)
            print(f"  ratio storm/baseline (median): {ratio:.2f}")
        for name in sorted(s.cpu):
            print(f"  CPU {name:40} median {statistics.median(s.cpu[name]):6.2f} cores")
        refused = {k: v for k, v in s.refused.items() if v}
        print(f"  refused or taken over during the storms: {sum(refused.values())} {dict(refused) or ''}")
        print(f"  connection attempts that found the server down (retried later): {s.retried}")
        for note in s.notes:
            print(f"  - {note}")
        late = bool(s.storm_s) and max(s.storm_s) > limit_s
        if s.missing or refused or late or not s.storm_s:
            ok = False
            print(f"  FAILED: {s.missing} not back, {sum(refused.values())} refused"
                  + (f", slower than {limit_s:g} s" if late else ""))  # fmt: skip
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--classtop", type=int, default=500)
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--outages", type=float, nargs="+", default=[0.0, 10.0],
                    help="agents: the site broker stays down this long (s) before it starts again, one storm each")
    ap.add_argument("--limit-s", type=float, default=30.0, help="everyone must be back within this (s)")
    ap.add_argument("--only", nargs="+", choices=["agents", "classtop", "links"],
                    default=["agents", "classtop", "links"])  # fmt: skip
    args = ap.parse_args(argv)
    logging.getLogger("edge.lms.cloud.link").setLevel(logging.ERROR)  # a hundred "disconnected" lines per restart
    timeout_s = max(120.0, 4 * args.limit_s)
    storms: list[Storm] = []
    runs: list[tuple[str, int, Callable[[], Storm]]] = []
    if "agents" in args.only:
        for outage in args.outages:
            runs.append(("agents", args.agents,
                         functools.partial(agents_storm, args.agents, args.runs, timeout_s, outage)))  # fmt: skip
    if "classtop" in args.only:
        runs.append(("classtop", args.classtop, functools.partial(classtop_storm, args.classtop, args.runs, timeout_s)))
    if "links" in args.only:
        runs.append(("links", args.sites, functools.partial(links_storm, args.sites, args.runs, timeout_s)))
    for name, count, run in runs:
        try:
            storms.append(run())
        except TimeoutError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            storms.append(Storm(f"{count} {name}: gave up ({exc})", missing=count))
    write_results("reconnect_storm", [Figure(f"{s.what}: everyone back", statistics.median(s.storm_s), "s",
                                             statistics.median(s.baseline_s) if s.baseline_s else None,
                                             "connect with no storm", max_value=args.limit_s)
                                      for s in storms if s.storm_s], params=vars(args))
    return 0 if report(storms, args.limit_s) else 1


if __name__ == "__main__":
    raise SystemExit(main())
