"""The committed template's user pool and dashboard hosting (infra/aws/user_pool.py, infra/aws/site_hosting.py):
what an attacker would try first — writing their own sites, reading the bucket's media, framing the dashboard —
is closed in the template itself."""

from __future__ import annotations

from typing import Any

from infra.aws import feed_secret, site_hosting, user_pool
from tests.unit.infra.stack_templates import load


def resources() -> dict[str, Any]:
    return load("template.yaml")["Resources"]


def test_the_pool_signs_in_by_email_with_optional_totp_and_admin_created_accounts() -> None:
    pool = resources()[user_pool.USER_POOL]["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert (pool["MfaConfiguration"], pool["EnabledMfas"]) == ("OPTIONAL", ["SOFTWARE_TOKEN_MFA"])
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert [a["Name"] for a in pool["Schema"]] == ["sites"]
    groups = {r["Properties"]["GroupName"] for r in resources().values() if r["Type"] == "AWS::Cognito::UserPoolGroup"}
    assert groups == {"admin", "operator", "viewer"}


def test_the_app_client_has_no_secret_and_users_cannot_write_their_own_sites() -> None:
    client = resources()[user_pool.USER_POOL_CLIENT]["Properties"]
    assert client["GenerateSecret"] is False
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    # an operator's own access token may not UpdateUserAttributes custom:sites (or e-mail) to widen their reach
    assert not [a for a in client["WriteAttributes"] if a.startswith("custom:") or a.startswith("email")]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["IdTokenValidity"] <= 60 and client["TokenValidityUnits"]["IdToken"] == "minutes"


def test_cloudfront_serves_the_files_through_origin_access_control_and_the_api_on_the_same_origin() -> None:
    config = resources()[site_hosting.DISTRIBUTION]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert origins["files"]["OriginPath"] == "/site"
    assert origins["files"]["OriginAccessControlId"] == {"Fn::GetAtt": [site_hosting.ORIGIN_ACCESS, "Id"]}
    assert origins["api"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    live, api = config["CacheBehaviors"]
    assert api["PathPattern"] == "/api/*" and api["TargetOriginId"] == "api"
    assert api["CachePolicyId"] == site_hosting.CACHING_DISABLED  # never a cached answer of someone else's
    for behaviour in (config["DefaultCacheBehavior"], live, api):
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": site_hosting.HEADERS_POLICY}
        assert behaviour["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")


def test_the_headers_policy_sends_csp_hsts_no_framing_nosniff_no_referrer() -> None:
    policy = resources()[site_hosting.HEADERS_POLICY]["Properties"]["ResponseHeadersPolicyConfig"]
    security = policy["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"][0]
    assert csp.startswith("default-src 'self';") and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert "ContentTypeOptions" in security


def test_the_bucket_gives_cloudfront_the_site_files_only() -> None:
    data_plane = load("infra/aws/data-plane.yaml")["Resources"]
    statements = data_plane["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (grant,) = [s for s in statements if s["Effect"] == "Allow"]
    assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"} and grant["Action"] == "s3:GetObject"
    assert grant["Resource"]["Fn::Join"][1][1] == "/site/*"  # not the snapshots, clips and logs beside them
    assert "aws:SourceAccount" in grant["Condition"]["StringEquals"]


def test_the_api_may_administer_accounts_of_its_own_pool_only() -> None:
    role = resources()["APIHandlerRole"]["Properties"]
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    accounts = statements["DashboardAccounts"]
    assert accounts["Resource"] == {"Fn::GetAtt": [user_pool.USER_POOL, "Arn"]}
    assert all(a.startswith("cognito-idp:Admin") or a.startswith("cognito-idp:ListUsers") for a in accounts["Action"])


def test_only_the_overview_links_are_cached_keyed_on_their_path_alone() -> None:
    """The one cached API path (before /api/*: CloudFront takes the first match) forwards no header, cookie or query
    (no Authorization can reach the API through it, and no caller's answer can be another's) and keeps an answer as
    long as the origin says, bounded."""
    config = resources()[site_hosting.DISTRIBUTION]["Properties"]["DistributionConfig"]
    live = config["CacheBehaviors"][0]
    assert live["PathPattern"] == "/api/live/*" and live["TargetOriginId"] == "api"
    assert live["AllowedMethods"] == ["GET", "HEAD"] and "OriginRequestPolicyId" not in live
    assert live["CachePolicyId"] == {"Ref": site_hosting.LIVE_CACHE_POLICY}
    policy = resources()[site_hosting.LIVE_CACHE_POLICY]["Properties"]["CachePolicyConfig"]
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert (policy["MinTTL"], policy["DefaultTTL"]) == (0, 0) and policy["MaxTTL"] <= 60  # the origin decides
    from chalicelib.domain.feed_link import LIVE_PREFIX  # the app's links are under the cached path

    assert (LIVE_PREFIX + "/").startswith(live["PathPattern"].rstrip("*"))


def test_the_feed_secret_is_generated_and_only_the_api_reads_it() -> None:
    secret = resources()[feed_secret.FEED_SECRET]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret["Properties"]  # never a value in the template
    readers = []
    for lid, resource in resources().items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("secretsmanager:") for a in actions):
                    assert actions == ["secretsmanager:GetSecretValue"]
                    assert statement["Resource"] == {"Ref": feed_secret.FEED_SECRET}
                    readers.append(lid)
    assert readers == ["APIHandlerRole"]
    env = resources()["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert env["CLASSTOP_FEED_SECRET_ARN"] == {"Ref": feed_secret.FEED_SECRET}
