"""What the API routes of the overview's shared links declare (services/overview_feed.py makes and checks the
links): their path and how long a shared cache may keep an answer. Here, not in the service, so that the API's
import loads no service (docs/deploy.md#cold-starts)."""

from __future__ import annotations

#: how long CloudFront (and any shared cache) may answer from its copy before asking the API again
MAX_AGE_S = 10
#: the answer's caching: shared caches may keep it ``MAX_AGE_S`` (the dashboard's fetches use ``no-store``)
CACHE_CONTROL = f"public, max-age={MAX_AGE_S}"
#: the route of the links (``{scope}/{expires}/{mac}`` follow)
LIVE_PREFIX = "/api/live/overview"
