"""The cloud plane's integration tests: fake AWS credentials and a region, set before any test module imports the
app (boto3 reads them when a client is made)."""

from __future__ import annotations

import os

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
)
