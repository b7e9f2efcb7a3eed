"""schemathesis hooks of the LMS's fuzz run (``SCHEMATHESIS_HOOKS``): never revoke the token the run holds.

``DELETE /api/tokens/{token_id}`` with the id of the admin token schemathesis authenticates with would end the run
(every later request a 401), not test the LMS; every other id is fuzzed. The id comes in ``CT_FUZZ_OWN_TOKEN_ID``.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

OWN_TOKEN_ID = int(os.environ.get("CT_FUZZ_OWN_TOKEN_ID", "0"))


@schemathesis.hook
def filter_path_parameters(_context: Any, path_parameters: dict[str, Any] | None) -> bool:
    return not path_parameters or path_parameters.get("token_id") != OWN_TOKEN_ID
