"""schemathesis hooks of the LMS's fuzz run (``SCHEMATHESIS_HOOKS``): never revoke the token the run holds.

``DELETE /api/tokens/{token_id}`` with the id of the admin token schemathesis authenticates with would end the run
(every later request a 401), not test the LMS; every other id is fuzzed. The id comes in ``CT_FUZZ_OWN_TOKEN_ID``.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

OWN_TOKEN_ID = os.environ.get("CT_FUZZ_OWN_TOKEN_ID", "")


@schemathesis.hook
def filter_case(_context: Any, case: Any) -> bool:
    revokes = case.method.upper() == "DELETE" and case.operation.path == "/api/tokens/{token_id}"
    return not (revokes and str((case.path_parameters or {}).get("token_id")) == OWN_TOKEN_ID)
