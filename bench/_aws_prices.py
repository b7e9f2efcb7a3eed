"""AWS list prices (us-east-1, on demand) that ``bench/cloud_cost.py`` bills its measured traffic at, and the fixed
monthly cost of a tenant stage's resources counted from the templates."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- AWS list prices (us-east-1, on demand)
PRICE_DDB_WRITE_UNIT = 0.625 / 1e6
PRICE_DDB_READ_UNIT = 0.125 / 1e6
PRICE_IOT_MESSAGE = 1.00 / 1e6  # per 5 KB
PRICE_IOT_RULE = 0.15 / 1e6 + 0.15 / 1e6  # rule triggered + one action
PRICE_LAMBDA_REQUEST = 0.20 / 1e6
PRICE_LAMBDA_GB_S = 0.0000166667 * 0.8  # arm64
LAMBDA_MEMORY_GB = 0.25
LAMBDA_AVG_S = 0.1
#: API Gateway HTTP API (infra/aws/http_api.py, in place of the REST API Chalice generates: $3.50), first 300 M
#: requests a month, each request metered per 512 KB (every call of the bench is far smaller)
PRICE_HTTP_API_REQUEST = 1.00 / 1e6
#: CloudFront HTTPS requests (the dashboard reaches /api/* through the tenant's distribution), North America
PRICE_CLOUDFRONT_REQUEST = 0.0100 / 1e4
PRICE_SNS_EMAIL = 0.50 / 1e6 + 2.00 / 1e5  # a publish + its e-mail delivery (SMS: ~$0.0065 per US message)
#: S3 Standard requests (https://aws.amazon.com/s3/pricing/, "Requests & data retrievals", us-east-1): GET, SELECT
#: and all other requests (a CORS preflight's OPTIONS too) $0.0004 per 1,000; PUT, COPY, POST, LIST $0.005 per 1,000
PRICE_S3_GET = 0.0004 / 1e3
PRICE_S3_PUT = 0.005 / 1e3
#: data transfer out from S3 to the internet (https://aws.amazon.com/s3/pricing/, "Data Transfer", us-east-1), first
#: 10 TB a month, per GB (the account's first 100 GB a month are free: not counted)
PRICE_TRANSFER_OUT_GB = 0.09
#: what a tenant stage's resources cost each month whatever its traffic (us-east-1 list prices, no free tier),
#: counted from the templates as deployed with the parameters' defaults (the overview bucket's storage, a few KB
#: per active scope, is left out); ``CustomMetric``: a metric the stack's metric filters publish (the filters
#: themselves are free)
PRICE_FIXED_MONTH = {"AWS::CloudWatch::Alarm": 0.10, "AWS::CloudWatch::Dashboard": 3.00, "AWS::KMS::Key": 1.00,
                     "CustomMetric": 0.30}
TEMPLATES = (ROOT / "template.yaml", ROOT / "infra" / "aws" / "data-plane.yaml")

#: each function's configured memory (what Lambda bills GB-seconds on)
_CHALICE_FUNCTIONS = json.loads((ROOT / "cloud" / ".chalice" / "config.json").read_text())["stages"]["dev"][
    "lambda_functions"]


def function_memory_gb(function: str) -> float:
    return float(_CHALICE_FUNCTIONS.get(function, {}).get("lambda_memory_size", LAMBDA_MEMORY_GB * 1024)) / 1024


DAYS_PER_MONTH = 30


def fixed_monthly() -> dict[str, tuple[int, float]]:
    """Per resource type of :data:`PRICE_FIXED_MONTH`: how many the tenant's templates declare, and their $/month."""
    # a resource with a Condition is off with the defaults (the e-mail subscription, the dashboard)
    resources = [r for t in TEMPLATES for r in yaml.safe_load(t.read_text(encoding="utf-8"))["Resources"].values()
                 if "Condition" not in r]
    kinds = [r["Type"] for r in resources]
    kinds += ["CustomMetric"] * len({(json.dumps(m["MetricNamespace"], sort_keys=True), m["MetricName"])
                                     for r in resources if r["Type"] == "AWS::Logs::MetricFilter"
                                     for m in r["Properties"]["MetricTransformations"]})
    return {kind: (kinds.count(kind), kinds.count(kind) * price) for kind, price in PRICE_FIXED_MONTH.items()}

