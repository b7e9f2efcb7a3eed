"""The key that signs the overview's shared links (``cloud/chalicelib/services/overview_feed.py``): a Secrets
Manager secret CloudFormation generates (64 letters and digits, never in the template, the code or an output),
read by the API function alone (``secretsmanager:GetSecretValue`` on this secret: ``infra/aws/roles.py``).

No ``Name``: CloudFormation makes a unique one, so deleting a stage and creating it again does not collide with
the old secret while it waits out its recovery window. Rotating it (``aws secretsmanager put-secret-value``, or
a new random value) makes every link answer 403 within the function's key cache (5 minutes); the dashboard
then asks for a new link. $0.40 a month per tenant (``bench/cloud_cost.py`` counts it).
"""

from __future__ import annotations

from infra.aws import data_plane
from infra.aws.cfn import Json, ref, sub

FEED_SECRET = "OverviewFeedSecret"
#: what the API function may do with it
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
KEY_LENGTH = 64


def resources() -> Json:
    return {
        FEED_SECRET: {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": sub("ClassTop ${TenantId} ${Stage}: signs the dashboard overview's shared links"),
                "GenerateSecretString": {
                    "PasswordLength": KEY_LENGTH,
                    "ExcludePunctuation": True,
                    "IncludeSpace": False,
                },
                "Tags": data_plane.tags(),
            },
        },
    }


def environment() -> Json:
    """What the functions read (``chalicelib.config.Settings.feed_secret``): the secret's ARN, not its value."""
    return {"CLASSTOP_FEED_SECRET_ARN": ref(FEED_SECRET)}


def secret_arn() -> Json:
    return ref(FEED_SECRET)
