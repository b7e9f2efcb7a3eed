"""Running ``python -m infra.aws.deploy tenant ...`` as a real subprocess against a moto server, and boto3
clients for that server, for the infra integration tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
#: fake credentials for moto, given to the subprocesses and the in-process clients (the process environment of
#: the test session is left alone: other modules set their own region)
AWS_ENV = {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
TOKEN_RE = re.compile(r"admin token \(shown once, keep it secret\): (\S+)")


def tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {**{k: v for k, v in os.environ.items() if not k.startswith(("CLASSTOP_", "AWS_"))}, **AWS_ENV}
    done = subprocess.run([sys.executable, "-m", "infra.aws.deploy", "tenant", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120, env=env if env is not None else base, check=False)
    assert "Traceback" not in done.stderr + done.stdout
    return done


def client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION,  # type: ignore[call-overload]
                        aws_access_key_id="testing", aws_secret_access_key="testing")
