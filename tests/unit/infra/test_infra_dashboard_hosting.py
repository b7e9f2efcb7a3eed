"""The committed template's user pool and dashboard hosting (infra/aws/user_pool.py, infra/aws/site_hosting.py):
what an attacker would try first — writing their own sites, reading the bucket's media, framing the dashboard —
is closed in the template itself."""

from __future__ import annotations

from typing import Any

from infra.aws import overview_bucket, site_hosting, user_pool
from tests.unit.infra.stack_templates import load


def resources() -> dict[str, Any]:
    found: dict[str, Any] = load("template.yaml")["Resources"]
    return found


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
    (api,) = config["CacheBehaviors"]  # nothing of the API is cached (the overview's objects are S3's)
    assert api["PathPattern"] == "/api/*" and api["TargetOriginId"] == "api"
    assert api["CachePolicyId"] == site_hosting.CACHING_DISABLED  # never a cached answer of someone else's
    for behaviour in (config["DefaultCacheBehavior"], api):
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": site_hosting.HEADERS_POLICY}
        assert behaviour["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")


def test_the_headers_policy_sends_csp_hsts_no_framing_nosniff_no_referrer() -> None:
    policy = resources()[site_hosting.HEADERS_POLICY]["Properties"]["ResponseHeadersPolicyConfig"]
    security = policy["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"][0]
    assert csp.startswith("default-src 'self';") and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # fetches: our origin, and the overview bucket's own origins (its presigned URLs), nothing broader
    (connect,) = [d for d in csp.split("; ") if d.startswith("connect-src ")]
    assert connect == f"connect-src 'self' {overview_bucket.connect_sources()}"
    assert "*" not in connect.replace("${", "")
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


def test_the_overview_bucket_is_private_tls_only_encrypted_and_shares_with_the_dashboard_alone() -> None:
    bucket = resources()[overview_bucket.OVERVIEW_BUCKET]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]  # no ACLs at all
    (sse,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (cors,) = bucket["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedMethods"] == ["GET"] and cors["AllowedHeaders"] == ["If-None-Match"]
    assert cors["AllowedOrigins"] == [
        {"Fn::Sub": ["https://${Domain}", {"Domain": {"Fn::GetAtt": [site_hosting.DISTRIBUTION, "DomainName"]}}]}
    ]  # the dashboard's origin only
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] * 86400 > 2 * 6 * 3600  # the pass rewrites an active object every 6 h
    policy = resources()[overview_bucket.OVERVIEW_BUCKET_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Sid"], s["Effect"], s["Condition"]) for s in policy] == [
        ("TlsOnly", "Deny", {"Bool": {"aws:SecureTransport": "false"}})
    ]  # no Allow: nothing public


def test_only_the_api_and_the_minutes_pass_touch_the_overview_objects_and_nothing_else_of_the_bucket() -> None:
    writers = []
    for lid, resource in resources().items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement["Resource"] in (overview_bucket.objects_arn(), overview_bucket.bucket_arn()):
                    assert statement["Action"] == ["s3:GetObject", "s3:PutObject"]
                    assert statement["Resource"] == overview_bucket.objects_arn()  # overview/* only
                    writers.append(lid)
    assert sorted(writers) == ["APIHandlerRole", "EvaluateAlertsRole"]
    for function in ("APIHandler", "EvaluateAlerts"):
        env = resources()[function]["Properties"]["Environment"]["Variables"]
        assert env["CLASSTOP_OVERVIEW_BUCKET"] == overview_bucket.bucket_name()
    assert not [r for r in resources().values() if r["Type"] == "AWS::SecretsManager::Secret"]  # no signing key
