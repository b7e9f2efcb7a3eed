"""The configuration version an LMS or an agent reports (docs/protocol.md#versions): which configuration is in
effect, as a short opaque string the cloud can compare.

* ``local:<12 hex>``: the configuration file as validated, hashed (secrets are masked by pydantic's ``SecretStr``,
  or ``shared.config_file.Secret`` in the agent's msgspec mirror, before hashing, so no password goes into the hash
  and none can be guessed from it);
* ``cloud:<n>``: an LMS running on the cloud configuration of version ``n`` of its ``lms:config`` shadow.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel


def local_config_version(config: BaseModel | None = None, *, canonical: bytes | None = None) -> str:
    """``local:`` and the first 12 hex digits of the SHA-256 of the configuration's canonical JSON (pydantic's
    ``model_dump_json`` of ``config``, or ``canonical`` already written so: the agent's mirror writes the same)."""
    if canonical is None:
        assert config is not None
        canonical = config.model_dump_json(round_trip=False).encode()
    return "local:" + hashlib.sha256(canonical).hexdigest()[:12]


def cloud_config_version(shadow_version: int) -> str:
    """``cloud:<n>``: the configuration of version ``n`` of the LMS's configuration shadow is in effect."""
    return f"cloud:{int(shadow_version)}"
