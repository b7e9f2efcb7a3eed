"""``python -m edge.agent --config FILE.toml [--validate-config]``

Start-up is the list of ``start_*`` steps in :meth:`AgentProcess.run` (:class:`shared.lifecycle.Lifecycle`); each
step that starts something registers how to undo it, and shutdown (SIGTERM, SIGINT, or a failed step) undoes them
in reverse order. The order is chosen so that:

* the command subscription is registered before the first connection (the broker has it before the LMS
  sees the agent online, so no early command is lost);
* on stop, commands are refused first, running ``exec`` processes are killed and answered while still
  connected, and only then the retained offline status is published and the connection closed.

Exit codes: 0 after a clean stop, 1 if start-up failed, 2 for a bad command line or configuration file, 75 to be
restarted into an upgraded version (edge.agent.upgrade).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from edge.agent import __version__, config_structs, footprint
from edge.agent.classtop import ClassTopStore, SnapshotLoop
from edge.agent.classtop_commands import ClassTopCommands
from edge.agent.command_journal import CommandJournal
from edge.agent.commands import AgentCommands
from edge.agent.config import AgentConfig, ConfigError, load_config
from edge.agent.credentials import Credentials
from edge.agent.dispatcher import Dispatcher
from edge.agent.enrolment import Enroller, RefusalWatch
from edge.agent.event_spool import EventSpool
from edge.agent.events import command_state, event
from edge.agent.executor import Executor
from edge.agent.logfile import LogFile
from edge.agent.metrics import MetricsSampler
from edge.agent.outbox import Outbox
from edge.agent.presence import Announcer, Heartbeats, last_will, say_goodbye, state_update
from edge.agent.processes import ProcessSampler
from edge.agent.settings import SettingsStore
from edge.agent.site_trust import SiteTrust
from edge.agent.upgrade import EXIT_RESTART, UpgradeCommands
from edge.agent.uplink import Uplink
from edge.agent.workers import WorkerPool
from shared.config_version import local_config_version
from shared.lifecycle import Lifecycle, shorten_gil_switch_interval
from shared.messages.enums import CommandStatus
from shared.messages.structs import Command, Event
from shared.periodic import Periodic
from shared.topics import AgentUp

if TYPE_CHECKING:
    from edge.agent.camera.manager import CameraManager

log = logging.getLogger("edge.agent")
#: the ``service`` key of the agent's JSON log lines ([log] format = "json")
LOG_SERVICE = "classtop-agent"


class AgentProcess:
    """One running agent: its parts, started in order and stopped in reverse."""

    def __init__(self, config: AgentConfig, stop_event: threading.Event | None = None) -> None:
        self.config = config
        self.lifecycle = Lifecycle(stop_event)
        self.stop_event = self.lifecycle.stop_event
        self.logfile: LogFile | None = None
        self.store: SettingsStore | None = None
        self.uplink: Uplink | None = None
        self.executor: Executor | None = None
        self.pool: WorkerPool | None = None
        self.sampler: MetricsSampler | None = None
        self.cameras: CameraManager | None = None
        self.enroller: Enroller | None = None
        self.site_trust: SiteTrust | None = None
        self.classtop: ClassTopStore | None = None
        self.snapshots: SnapshotLoop | None = None
        self.processes = ProcessSampler()
        self.upgrades: UpgradeCommands | None = None
        self.exit_code = 0  # EXIT_RESTART after an upgrade (edge.agent.upgrade)

    # ------------------------------------------------------------ steps

    def start_logging(self) -> None:
        self.logfile = LogFile(self.config.log_dir, self.config.log,
                               static={"service": LOG_SERVICE, "agent_id": self.config.agent_id})
        self.logfile.open()
        log.info("agent %s version %s starting (pid %d)", self.config.agent_id, __version__, os.getpid())
        self.lifecycle.on_stop("log file", self.logfile.close)

    def start_settings(self) -> None:
        self.store = SettingsStore(self.config.settings_path)
        log.info("settings: %d keys from %s", len(self.store), self.store.path)

    def start_enrolment(self) -> None:
        """With ``[enroll]``: stored broker credentials, or enrol with the LMS for them (edge.agent.enrolment)."""
        if self.config.enroll is None:
            return
        self.enroller = Enroller(self.config.enroll, self.config.agent_id, self.config.state_dir)
        creds = self.enroller.ensure(self.stop_event)
        if creds is None:  # stopped while the LMS was away
            return
        mqtt = creds.apply(self.config.mqtt, self.enroller.ca_path)
        self.config = msgspec.structs.replace(self.config, mqtt=mqtt)

    def start_refusal_watch(self) -> None:
        """With ``[enroll]``: re-enrol once if the broker refuses the credentials (e.g. revoked)."""
        if self.enroller is None or self.uplink is None:
            return
        client = self.uplink.client

        def use(creds: Credentials) -> None:
            # paho uses the new credentials at its next reconnect attempt.
            client.set_credentials(creds.username, creds.password)

        fall_back = self.site_trust.fall_back if self.site_trust is not None else None
        watch = RefusalWatch(self.enroller, lambda: client.stats.refused, use, fall_back=fall_back).start()
        self.lifecycle.on_stop("refusal watch", watch.stop)

    def start_classtop(self) -> None:
        """This PC's courses and schedule (edge.agent.classtop), refreshed from ``[classtop] import_path``."""
        self.classtop = ClassTopStore(self.config.classtop_path)
        path = self.config.classtop.import_path
        if path is not None:
            from edge.agent.classtop_import import ImportFailed, import_classtop  # only when configured

            try:
                result = import_classtop(path)
                changed = self.classtop.import_data(result.data, source=result.source)
                log.info(
                    "ClassTop data imported from %s: %d courses, %d entries, %d skipped, changed=%s",
                    path, len(result.data.courses), len(result.data.schedule_entries), len(result.skipped), changed,
                )
                for why in result.skipped[:20]:
                    log.warning("ClassTop import skipped %s", why)
            except (ImportFailed, ValueError) as exc:
                log.error("ClassTop import failed (keeping the stored data): %s", exc)
        snapshot = self.classtop.current()
        log.info("ClassTop data: version %d, %d courses", snapshot.version, len(snapshot.courses))

    def start_uplink(self) -> None:
        assert self.store is not None
        mqtt = self.config.mqtt
        if mqtt.password is None and mqtt.tls is None:
            log.warning("no broker password configured (CLASSTOP_AGENT_PASSWORD or mqtt.password_file)")
        version = local_config_version(canonical=config_structs.dump_json(self.config))
        announcer = Announcer(self.config.agent_id, self.store, config_version=version)

        def on_connected(up: Uplink) -> None:
            announcer(up)
            if self.upgrades is not None:
                self.upgrades.on_online()
            if self.snapshots is not None:
                self.snapshots.poke()

        self.uplink = Uplink(
            self.config.agent_id,
            mqtt,
            last_will=last_will(),
            on_connected=on_connected,
            outbox=Outbox(self.config.outbox_path, **msgspec.structs.asdict(self.config.outbox)),
        )
        uplink = self.uplink

        def stop() -> None:
            if not uplink.drain(self.config.stop_wait_s):
                log.warning("stopping with %d undelivered item(s) in the outbox", len(uplink.outbox or ()))
            say_goodbye(uplink, self.config.stop_wait_s)
            uplink.stop()

        self.lifecycle.on_stop("uplink (offline status, then the connection)", stop)

    def start_executor(self) -> None:
        policy = self.config.exec
        self.executor = Executor(policy)
        self.pool = WorkerPool(policy.max_concurrent, name="command", queue_size=policy.max_queued)
        log.info("exec policy: mode=%s, %d allowlist entries", policy.mode.value, len(policy.allowlist))
        executor, pool = self.executor, self.pool

        def stop() -> None:
            killed = executor.abort_all()
            if killed:
                log.warning("killed %d running command(s)", killed)
            pool.close(wait=True)

        self.lifecycle.on_stop("executor (running commands killed and answered)", stop)

    def start_cameras(self) -> None:
        """With ``[camera] enabled = true``: load OpenCV, start the cameras (events go up as ``event``).

        A camera part that cannot start (OpenCV missing, recordings folder unusable) is logged and left off:
        the agent still runs and stays manageable; ``cctv_*`` then answer ``not_supported``."""
        if not self.config.camera.enabled:
            return
        assert self.uplink is not None
        uplink = self.uplink
        try:
            from edge.agent.camera.manager import CameraManager  # OpenCV only when cameras are enabled

            cameras = CameraManager(
                self.config.camera, self.config.state_dir, lambda event: uplink.publish(AgentUp.EVENT, event)
            )
        except (ImportError, OSError) as exc:
            log.critical("cameras disabled: the camera part cannot start: %s", exc)
            return
        cameras.start()
        self.cameras = cameras
        self.lifecycle.on_stop("cameras", cameras.stop)

    def start_commands(self) -> None:
        assert self.store is not None and self.uplink and self.executor and self.pool
        uplink, store, agent_id = self.uplink, self.store, self.config.agent_id
        self.sampler = MetricsSampler(self.config.simulated_disk)

        def publish_state() -> None:
            uplink.publish(AgentUp.STATE, state_update(agent_id, store))

        def report_state(command: Command, status: CommandStatus, at: float | None = None, /) -> None:
            uplink.publish(AgentUp.EVENT, command_state(command.request_id, status, command.command_id, at=at))

        commands = AgentCommands(
            agent_id=agent_id,
            store=store,
            publish_state=publish_state,
            executor=self.executor,
            pool=self.pool,
            sampler=self.sampler,
            logfile=self.logfile,
            cameras=self.cameras,
            report_state=report_state,
        )
        assert self.classtop is not None
        classtop = ClassTopCommands(
            self.classtop,
            import_path=self.config.classtop.import_path,
            on_change=lambda: self.snapshots.poke() if self.snapshots else None,
            send_snapshot=lambda: self.snapshots.send_now() if self.snapshots else None,
            processes=self.processes,
        )
        tls = self.config.mqtt.tls  # the site CA: pinned at enrolment, or the broker's configured one
        ca_file = self.enroller.ca_path if self.enroller else (tls.ca_file if tls is not None else None)
        self.upgrades = UpgradeCommands(self.config.upgrade, self.pool, self.request_restart, ca_file=ca_file)
        handlers = {**commands.table(), **classtop.table(), **self.upgrades.table()}
        if self.enroller is not None:  # rotation by the LMS, over this authenticated connection (edge.agent.site_trust)
            self.site_trust = SiteTrust(agent_id, self.config.state_dir, self.enroller.settings.ca_hash, uplink.client)
            handlers.update(self.site_trust.table())
        journal = CommandJournal(self.config.state_dir / "command-journal.log")
        self.lifecycle.on_stop("command journal", journal.close)
        dispatcher = Dispatcher(uplink, handlers, report_state=report_state, journal=journal)
        uplink.on_commands(dispatcher, inline=Dispatcher.quick)
        self.lifecycle.on_stop("command subscription (commands refused)", uplink.stop_commands)

    def start_connection(self) -> None:
        assert self.uplink is not None
        mqtt = self.config.mqtt
        if self.uplink.start(self.config.connect_wait_s):
            log.info("connected to %s:%d as %s", mqtt.host, mqtt.port, mqtt.username)
        else:
            log.warning("not connected to %s:%d yet; retrying in the background", mqtt.host, mqtt.port)

    def start_heartbeat(self) -> None:
        assert self.uplink is not None
        self._every("heartbeat", Heartbeats(self.uplink).beat, self.config.heartbeat_s)

    def start_metrics(self) -> None:
        assert self.uplink is not None and self.sampler is not None
        uplink, sampler = self.uplink, self.sampler
        self._every("metrics", lambda: uplink.publish(AgentUp.METRICS, sampler.sample()), self.config.metrics_s)

    def start_snapshots(self) -> None:
        """ClassTop snapshots: now, on change, on every connect, and every ``sync_interval_s``."""
        assert self.uplink is not None and self.classtop is not None
        uplink = self.uplink

        def send(message: Event) -> bool:
            return uplink.publish(AgentUp.EVENT, message, durable=False)

        self.snapshots = SnapshotLoop(self.classtop, self.config.classtop.sync_interval_s, send)
        self.snapshots.start()
        self.lifecycle.on_stop("ClassTop snapshots", self.snapshots.stop)
        self.snapshots.poke()

    def start_processes(self) -> None:
        """The process list, every ``[processes] interval_s`` (the expensive sample, taken rarely; 0: never)."""
        assert self.uplink is not None
        uplink, processes, settings = self.uplink, self.processes, self.config.processes

        def publish() -> None:
            uplink.publish(AgentUp.EVENT, event("processes", processes.sample(settings.top)), durable=False)

        self._every("processes", publish, settings.interval_s)

    def start_event_spool(self) -> None:
        """Test-only: events dropped as files into ``[event_spool] directory`` (:mod:`edge.agent.event_spool`)."""
        settings = self.config.event_spool
        if settings is None:
            return
        assert self.uplink is not None
        uplink = self.uplink
        settings.directory.mkdir(parents=True, exist_ok=True)
        spool = EventSpool(settings.directory, lambda message: uplink.publish(AgentUp.EVENT, message))
        self._every("event spool", spool.drain, settings.interval_s)

    def request_restart(self) -> None:
        """Stop cleanly and exit with :data:`EXIT_RESTART`: the service manager starts the new version."""
        log.warning("restarting into the upgraded version")
        self.exit_code = EXIT_RESTART
        self.stop_event.set()

    def _every(self, name: str, fn: Callable[[], object], interval_s: float) -> None:
        """Run ``fn`` every ``interval_s`` (the first time after one interval) until stopped."""
        loop = Periodic(name, fn, interval_s, run_at_start=False, join_timeout_s=5.0).start()
        self.lifecycle.on_stop(f"{name} loop", loop.stop)

    # ------------------------------------------------------------ lifecycle

    def run(self) -> int:
        code = 0
        footprint.limit_arenas(1)  # one arena: the GIL serialises most allocations anyway (README.md#footprint)
        footprint.skip_proxy_lookup()
        try:
            self.lifecycle.start([
                self.start_logging,
                self.start_settings,
                self.start_enrolment,
                self.start_classtop,
                self.start_uplink,
                self.start_executor,
                self.start_cameras,
                self.start_commands,
                self.start_connection,
                self.start_refusal_watch,
                self.start_heartbeat,
                self.start_metrics,
                self.start_snapshots,
                self.start_processes,
                self.start_event_spool,
            ])
            footprint.trim()
            log.info("agent %s running", self.config.agent_id)
            self.stop_event.wait()
            log.info("agent %s stopping", self.config.agent_id)
        except Exception as exc:
            code = 1
            current = self.lifecycle.current or "start"
            logging_on = self.logfile is not None and self.logfile.is_open
            if logging_on:
                log.critical("start-up failed in %s: %s", current, exc, exc_info=not isinstance(exc, OSError))
            if not (logging_on and self.config.log.stderr):
                print(f"error: start-up failed in {current}: {exc}", file=sys.stderr)
        finally:
            self.lifecycle.stop()
        return code or self.exit_code


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m edge.agent", description="ClassTop Fleet PC agent", formatter_class=footprint.HelpFormatter
    )
    parser.add_argument(
        "--config", required=True, type=Path, metavar="FILE.toml", help="agent configuration file"
    )
    parser.add_argument(
        "--validate-config", action="store_true", help="check the configuration file and exit"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.validate_config:
        print(f"OK: {args.config} (agent_id={config.agent_id}, exec mode={config.exec.mode.value})")
        return 0
    shorten_gil_switch_interval()
    agent = AgentProcess(config)
    agent.lifecycle.install_signal_handlers(exit_code_on_second=1)
    return agent.run()


if __name__ == "__main__":
    sys.exit(main())
