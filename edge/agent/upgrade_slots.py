"""Where upgradeable agent code lives, and the switch between versions (docs/upgrades.md#install-slots).

Layout under the install root (``[upgrade] root``)::

    versions/<version>/      one unpacked package each: edge/, shared/, VERSION
    current -> versions/<v>  what the service runs (PYTHONPATH=<root>/current)
    pending.json             {version, previous, deadline}: an upgrade not yet confirmed
    last-upgrade.json        the outcome of the latest upgrade (confirmed / rolled_back)

:meth:`Slots.switch` writes the pending marker, then points ``current`` at the new version (an atomic
``rename`` of a fresh symlink). The new agent calls :meth:`Slots.confirm` once it is connected and has announced
its version. :meth:`Slots.expire` — run by the supervisor (tests) or the systemd timer and ``ExecStartPre``
(production) — points ``current`` back at the previous version when the deadline passes unconfirmed. Only
the current and the previous version are kept.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from shared.agent_packages import VERSION_FILE, PackageError, check_version

log = logging.getLogger(__name__)

MAX_MEMBERS = 20_000
MAX_UNPACKED_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Pending:
    version: str
    previous: str
    deadline: float


class Slots:
    """The install root of one agent (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / "versions"
        self.current_link = root / "current"
        self.pending_path = root / "pending.json"
        self.last_path = root / "last-upgrade.json"

    # ------------------------------------------------------------ reading

    def current(self) -> str | None:
        try:
            return Path(os.readlink(self.current_link)).name
        except OSError:
            return None

    def pending(self) -> Pending | None:
        try:
            data = json.loads(self.pending_path.read_text(encoding="utf-8"))
            return Pending(str(data["version"]), str(data["previous"]), float(data["deadline"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable %s (%s): treating it as an expired upgrade", self.pending_path, exc)
            return Pending("?", "?", 0.0)

    def last(self) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads(self.last_path.read_text(encoding="utf-8"))
            return data
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------ changing

    def install(self, version: str, archive: bytes) -> Path:
        """Unpack ``archive`` into ``versions/<version>`` (checked member by member; nothing is left behind when
        it is refused). Its ``VERSION`` file must say ``version``."""
        check_version(version)
        target = self.versions / version
        if version == self.current():
            raise PackageError(f"version {version} is the one running")
        self.versions.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.versions))
        try:
            _unpack(archive, tmp)
            found = (tmp / VERSION_FILE).read_text(encoding="utf-8").strip() if (tmp / VERSION_FILE).is_file() else None
            if found != version:
                raise PackageError(f"the package's {VERSION_FILE} file says {found!r}, not {version!r}")
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def seed(self, version: str, archive: bytes) -> None:
        """A first install: unpack and make it current (no pending marker)."""
        self.install(version, archive)
        self._point(version)

    def switch(self, version: str, rollback_s: float) -> Pending:
        """Make the installed ``version`` current, to be confirmed within ``rollback_s``."""
        previous = self.current()
        if previous is None:
            raise PackageError(f"no current version under {self.root}: install one first")
        pending = Pending(version, previous, time.time() + rollback_s)
        _write_json(self.pending_path, asdict(pending))
        self._point(version)
        log.info("switched %s -> %s; confirm before %.0f", previous, version, pending.deadline)
        return pending

    def confirm(self, running: str) -> bool:
        """The running version came online: keep it (True if that confirmed a pending upgrade)."""
        pending = self.pending()
        if pending is None or pending.version != running or self.current() != running:
            return False
        self.pending_path.unlink(missing_ok=True)
        _write_json(self.last_path, {"version": running, "previous": pending.previous, "result": "confirmed",
                                     "at": time.time()})  # fmt: skip
        self._prune(keep={running, pending.previous})
        log.info("upgrade to %s confirmed", running)
        return True

    def expire(self, now: float | None = None) -> Pending | None:
        """If an upgrade is pending past its deadline: point ``current`` back at the previous version (the
        returned pending upgrade is what was rolled back)."""
        pending = self.pending()
        if pending is None or (now or time.time()) < pending.deadline:
            return None
        if (self.versions / pending.previous).is_dir():
            self._point(pending.previous)
        self.pending_path.unlink(missing_ok=True)
        _write_json(self.last_path, {"version": pending.version, "previous": pending.previous,
                                     "result": "rolled_back", "at": time.time()})  # fmt: skip
        log.warning("upgrade to %s not confirmed in time: rolled back to %s", pending.version, pending.previous)
        return pending

    def _point(self, version: str) -> None:
        tmp = self.root / f".current-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("versions") / version)
        tmp.replace(self.current_link)

    def _prune(self, keep: set[str]) -> None:
        for path in self.versions.iterdir():
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _unpack(archive: bytes, into: Path) -> None:
    """Extract regular files and directories only, each inside ``into``; refuse anything else."""
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = tar.getmembers()
            if len(members) > MAX_MEMBERS:
                raise PackageError(f"package has {len(members)} entries (at most {MAX_MEMBERS})")
            for member in members:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                    raise PackageError(f"package entry {member.name[:200]!r} is not a plain relative file")
                total += member.size
                if total > MAX_UNPACKED_BYTES:
                    raise PackageError(f"package unpacks to more than {MAX_UNPACKED_BYTES} bytes")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PackageError(f"package is not a readable .tar.gz: {exc}") from None


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
