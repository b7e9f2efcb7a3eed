"""``python -m edge.agent --config FILE.toml [--validate-config]``

Start-up is the list of ``start_*`` steps in :meth:`AgentProcess.run`; each returns how to undo itself,
and shutdown (SIGTERM, SIGINT, or a failed step) undoes them in reverse order. The order is chosen so that:

* the command subscription is registered before the first connection (the broker has it before the LMS
  sees the agent online, so no early command is lost);
* on stop, commands are refused first, running ``exec`` processes are killed and answered while still
  connected, and only then the retained offline status is published and the connection closed.

Exit codes: 0 after a clean stop, 1 if start-up failed, 2 for a bad command line or configuration file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from edge.agent import __version__
from edge.agent.commands import AgentCommands
from edge.agent.config import AgentConfig, ConfigError, load_config
from edge.agent.dispatcher import Dispatcher
from edge.agent.executor import Executor
from edge.agent.logfile import LogFile
from edge.agent.metrics import MetricsLoop, MetricsSampler
from edge.agent.presence import Announcer, HeartbeatLoop, last_will, say_goodbye, state_update
from edge.agent.settings import SettingsStore
from edge.agent.uplink import Uplink
from edge.agent.workers import WorkerPool
from shared.messages import Metrics
from shared.topics import AgentUp

log = logging.getLogger("edge.agent")

Undo = Callable[[], None]


def _nothing() -> None:
    return None


class AgentProcess:
    """One running agent: its parts, started in order and stopped in reverse."""

    def __init__(self, config: AgentConfig, stop_event: threading.Event | None = None) -> None:
        self.config = config
        self.stop_event = stop_event or threading.Event()
        self.logfile: LogFile | None = None
        self.store: SettingsStore | None = None
        self.uplink: Uplink | None = None
        self.executor: Executor | None = None
        self.pool: WorkerPool | None = None
        self.sampler: MetricsSampler | None = None

    # ------------------------------------------------------------ steps

    def start_logging(self) -> Undo:
        self.logfile = LogFile(self.config.log_dir, self.config.log)
        self.logfile.open()
        log.info("agent %s version %s starting (pid %d)", self.config.agent_id, __version__, os.getpid())
        return self.logfile.close

    def start_settings(self) -> Undo:
        self.store = SettingsStore(self.config.settings_path)
        log.info("settings: %d keys from %s", len(self.store), self.store.path)
        return _nothing

    def start_uplink(self) -> Undo:
        assert self.store is not None
        mqtt = self.config.mqtt
        if mqtt.password is None and mqtt.tls is None:
            log.warning("no broker password configured (CLASSTOP_AGENT_PASSWORD or mqtt.password_file)")
        self.uplink = Uplink(
            self.config.agent_id,
            mqtt,
            last_will=last_will(),
            on_connected=Announcer(self.config.agent_id, self.store),
        )
        uplink = self.uplink

        def stop() -> None:
            say_goodbye(uplink, self.config.stop_wait_s)
            uplink.stop()

        return stop

    def start_executor(self) -> Undo:
        policy = self.config.exec
        self.executor = Executor(policy)
        self.pool = WorkerPool(policy.max_concurrent, name="command")
        log.info("exec policy: mode=%s, %d allowlist entries", policy.mode.value, len(policy.allowlist))
        executor, pool = self.executor, self.pool

        def stop() -> None:
            killed = executor.abort_all()
            if killed:
                log.warning("killed %d running command(s)", killed)
            pool.close(wait=True)

        return stop

    def start_commands(self) -> Undo:
        assert self.store is not None and self.uplink and self.executor and self.pool
        uplink, store, agent_id = self.uplink, self.store, self.config.agent_id
        self.sampler = MetricsSampler()

        def publish_state() -> None:
            uplink.publish(AgentUp.STATE, state_update(agent_id, store))

        commands = AgentCommands(
            agent_id=agent_id,
            store=store,
            publish_state=publish_state,
            executor=self.executor,
            pool=self.pool,
            sampler=self.sampler,
            logfile=self.logfile,
        )
        uplink.on_commands(Dispatcher(uplink, commands.table()))
        return uplink.stop_commands

    def start_connection(self) -> Undo:
        assert self.uplink is not None
        mqtt = self.config.mqtt
        if self.uplink.start(self.config.connect_wait_s):
            log.info("connected to %s:%d as %s", mqtt.host, mqtt.port, mqtt.username)
        else:
            log.warning("not connected to %s:%d yet; retrying in the background", mqtt.host, mqtt.port)
        return _nothing

    def start_heartbeat(self) -> Undo:
        assert self.uplink is not None
        heartbeat = HeartbeatLoop(self.uplink, self.config.heartbeat_s)
        heartbeat.start()
        return heartbeat.stop

    def start_metrics(self) -> Undo:
        assert self.uplink is not None and self.sampler is not None
        uplink = self.uplink

        def publish(sample: Metrics) -> None:
            uplink.publish(AgentUp.METRICS, sample)

        loop = MetricsLoop(self.sampler, self.config.metrics_s, publish)
        loop.start()
        return loop.stop

    # ------------------------------------------------------------ lifecycle

    def run(self) -> int:
        steps = [
            self.start_logging,
            self.start_settings,
            self.start_uplink,
            self.start_executor,
            self.start_commands,
            self.start_connection,
            self.start_heartbeat,
            self.start_metrics,
        ]
        undo: list[Undo] = []
        code = 0
        current = "start"
        try:
            for step in steps:
                current = step.__name__
                undo.append(step())
            log.info("agent %s running", self.config.agent_id)
            self.stop_event.wait()
            log.info("agent %s stopping", self.config.agent_id)
        except Exception as exc:
            code = 1
            logging_on = self.logfile is not None and self.logfile.is_open
            if logging_on:
                log.critical("start-up failed in %s: %s", current, exc, exc_info=not isinstance(exc, OSError))
            if not (logging_on and self.config.log.stderr):
                print(f"error: start-up failed in {current}: {exc}", file=sys.stderr)
        finally:
            for action in reversed(undo):
                try:
                    action()
                except Exception:
                    log.exception("error while stopping")
        return code


def _install_signal_handlers(stop_event: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop_event.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        log.info("received %s", signal.Signals(signum).name)
        stop_event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edge.agent", description="ClassTop Fleet PC agent")
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
    stop_event = threading.Event()
    _install_signal_handlers(stop_event)
    return AgentProcess(config, stop_event).run()


if __name__ == "__main__":
    sys.exit(main())
