"""Where each part of a site's LMS lives, as its configuration says, and its name in a backup archive.

=============================  =====================================================================
archive name                   the file
=============================  =====================================================================
``lms.db``                     ``db_path`` (a copy made with SQLite's backup API)
``lms.toml``                   the configuration file (``--config``)
``site-ca/<file>``             ``[site_tls] dir``: the site CA's key and certificate, the LMS's certificate
``broker-tls/<file>``          ``[site_tls] broker_dir``: the broker's certificate and key, the CA certificate
``certs/<file>``               ``certs/`` beside the database: the site's cloud certificate, key, API key
``cloud/{cert,key,ca}.pem``    ``[cloud.tls]`` files kept elsewhere than ``certs/``
``broker/dynamic-security.json``  ``[site_broker.dynsec] state_file``: agents' broker credentials
``agent-packages/<file>``      ``agent-packages/`` beside the database: the cache of signed agent packages
                               (``edge/lms/upgrades/packages.py``) — a site without internet could not fetch
                               them again, and a restored LMS must serve the version its agents run
=============================  =====================================================================

The broker's persistence file (retained presence, sessions) is not included: agents publish their presence
again when they connect.
"""

from __future__ import annotations

from pathlib import Path

from edge.lms.config import LmsConfig
from edge.lms.upgrades.packages import PACKAGES_DIR, packages_dir

DB, CONFIG, DYNSEC = "lms.db", "lms.toml", "broker/dynamic-security.json"
DIRS = ("site-ca", "broker-tls", "certs", PACKAGES_DIR)


class SiteLayout:
    """The paths of one site's parts, from its configuration file (``config_path``) and configuration."""

    def __init__(self, config_path: Path, cfg: LmsConfig) -> None:
        self.config_path = config_path
        self.cfg = cfg
        tls = cfg.site_tls
        assert tls.dir is not None and tls.broker_dir is not None  # filled by config loading
        self.dirs = {"site-ca": tls.dir, "broker-tls": tls.broker_dir, "certs": cfg.db_path.parent / "certs",
                     PACKAGES_DIR: packages_dir(cfg.db_path)}
        dynsec = cfg.site_broker.dynsec
        self.dynsec_file = dynsec.state_file if dynsec is not None else None

    @property
    def db_path(self) -> Path:
        return self.cfg.db_path

    def cloud_files(self) -> dict[str, Path]:
        """``[cloud.tls]`` files that are not under ``certs/`` (which is backed up whole)."""
        tls = self.cfg.cloud.tls if self.cfg.cloud is not None else None
        if tls is None:
            return {}
        files = {"cloud/cert.pem": tls.cert_file, "cloud/key.pem": tls.key_file, "cloud/ca.pem": tls.ca_file}
        certs = self.dirs["certs"].resolve()
        return {
            name: path for name, path in files.items() if path is not None and not path.resolve().is_relative_to(certs)
        }

    def files_to_back_up(self, *, skip: Path | None = None) -> dict[str, Path]:
        """Archive name -> existing file, for everything but the database and the broker's state (and what is
        under ``skip``: the backup's own work directory, should the archive be written inside a backed-up one)."""
        found: dict[str, Path] = {CONFIG: self.config_path}
        taken = {self.db_path.resolve(), self.config_path.resolve()}
        for prefix, root in self.dirs.items():
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                if skip is not None and path.resolve().is_relative_to(skip.resolve()):
                    continue
                if path.is_file() and not path.is_symlink() and path.resolve() not in taken:
                    if prefix == "site-ca" and path.resolve().is_relative_to(self.dirs["broker-tls"].resolve()):
                        continue  # the broker's files are backed up as broker-tls/
                    found[f"{prefix}/{path.relative_to(root).as_posix()}"] = path
                    taken.add(path.resolve())
        found.update({name: path for name, path in self.cloud_files().items() if path.is_file()})
        return found

    def target(self, name: str) -> Path | None:
        """Where the archive's member ``name`` is restored (``None``: this configuration has no place for it)."""
        if name == DB:
            return self.db_path
        if name == CONFIG:
            return self.config_path
        if name == DYNSEC:
            return self.dynsec_file
        prefix, _, rest = name.partition("/")
        if prefix in self.dirs and rest:
            return self.dirs[prefix] / rest
        if prefix == "cloud":
            tls = self.cfg.cloud.tls if self.cfg.cloud is not None else None
            if tls is not None:
                return {"cert.pem": tls.cert_file, "key.pem": tls.key_file, "ca.pem": tls.ca_file}.get(rest)
        return None
