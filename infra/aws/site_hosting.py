"""The dashboard's hosting: its static files under the ``site/`` prefix of the tenant's bucket, behind CloudFront
(origin access control: the bucket stays private), with ``/api/*`` routed to the API Gateway stage on the same
origin (no CORS) and one response headers policy for both (:data:`SECURITY_HEADERS`). Nothing under ``/api/`` is
cached. The dashboard polls its overview from the overview bucket (``infra/aws/overview_bucket.py``), which its CSP
lets it fetch from. The local twin sends the same headers (``infra/local/dashboard_files.py``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from infra.aws import data_plane, overview_bucket
from infra.aws.cfn import Json, get_att, name_sub, ref, sub

DISTRIBUTION = "DashboardDistribution"
ORIGIN_ACCESS = "DashboardOriginAccess"
HEADERS_POLICY = "DashboardHeadersPolicy"
#: the dashboard's page: its inline script (the import map) is allowed by its hash
DASHBOARD_PAGE = Path(__file__).resolve().parents[2] / "web" / "dashboard" / "index.html"
#: the bucket prefix of the web apps' files (upload ``web/`` there, ``vendor.py`` aside: docs/deploy.md); ``/``
#: is ``index.html``, which leads to ``dashboard/``
SITE_PREFIX = data_plane.SITE_FILES_PREFIX
#: AWS's managed policies (their ids are the same in every account)
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
HSTS_MAX_AGE_S = 63_072_000  # two years


def inline_script_hashes(page: Path = DASHBOARD_PAGE) -> str:
    """The CSP sources of ``page``'s inline scripts (its import map): ``'sha256-...'`` each."""
    if not page.is_file():
        return ""
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.read_text(encoding="utf-8"), re.S)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)


def content_security_policy(image_sources: str = "", connect_sources: str = "") -> str:
    """Scripts, styles, fonts only from our origin (and the dashboard's import map by its hash); images also from
    ``image_sources`` (the presigned URLs of camera snapshots), fetches also from ``connect_sources`` (the
    presigned URLs of the overview's objects); never framed, no plugins, no ``<base>`` rewriting, forms post only
    to us."""
    images = f"img-src 'self' data: blob: {image_sources}".rstrip()
    connects = f"connect-src 'self' {connect_sources}".rstrip()
    scripts = f"script-src 'self' {inline_script_hashes()}".rstrip()
    return (f"default-src 'self'; {scripts}; {images}; {connects}; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


#: the headers of every answer (HTTP name -> value); CloudFront's policy and the twin send the same
SECURITY_HEADERS = {
    "Strict-Transport-Security": f"max-age={HSTS_MAX_AGE_S}; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def media_image_sources() -> str:
    """The media bucket's HTTPS origins (presigned snapshot URLs use one of them), as ``Fn::Sub`` text."""
    return "https://${MediaBucketDomain} https://${MediaBucketRegionalDomain}"


def resources(rest_api: str, api_stage: str) -> Json:
    csp = {"Fn::Sub": [content_security_policy(media_image_sources(), overview_bucket.connect_sources()), {
        "MediaBucketDomain": data_plane.output("MediaBucketDomainName"),
        "MediaBucketRegionalDomain": data_plane.output("MediaBucketRegionalDomainName"),
    }]}
    headers_policy: Json = {
        "Type": "AWS::CloudFront::ResponseHeadersPolicy",
        "Properties": {"ResponseHeadersPolicyConfig": {
            "Name": name_sub("dashboard-headers"),
            "Comment": "ClassTop dashboard: CSP, HSTS, no framing, nosniff, no referrer",
            "SecurityHeadersConfig": {
                "ContentSecurityPolicy": {"ContentSecurityPolicy": csp, "Override": True},
                "StrictTransportSecurity": {"AccessControlMaxAgeSec": HSTS_MAX_AGE_S, "IncludeSubdomains": True,
                                            "Override": True},
                "ContentTypeOptions": {"Override": True},
                "FrameOptions": {"FrameOption": "DENY", "Override": True},
                "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
            },
        }},
    }
    origin_access: Json = {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Properties": {"OriginAccessControlConfig": {
            "Name": name_sub("dashboard-files"),
            "Description": "CloudFront reads the dashboard's files from the tenant's bucket",
            "OriginAccessControlOriginType": "s3",
            "SigningBehavior": "always",
            "SigningProtocol": "sigv4",
        }},
    }
    distribution: Json = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {"DistributionConfig": {
            "Comment": sub("ClassTop ${TenantId} ${Stage}: the dashboard and its API"),
            "Enabled": True,
            "HttpVersion": "http2and3",
            "IPV6Enabled": True,
            "PriceClass": "PriceClass_100",
            "DefaultRootObject": "index.html",
            "Origins": [
                {"Id": "files", "DomainName": data_plane.output("MediaBucketRegionalDomainName"),
                 "OriginPath": f"/{SITE_PREFIX}", "S3OriginConfig": {"OriginAccessIdentity": ""},
                 "OriginAccessControlId": get_att(ORIGIN_ACCESS, "Id")},
                {"Id": "api", "DomainName": sub(f"${{{rest_api}}}.execute-api.${{AWS::Region}}.amazonaws.com"),
                 "OriginPath": f"/{api_stage}",
                 "CustomOriginConfig": {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}},
            ],
            "DefaultCacheBehavior": {
                "TargetOriginId": "files", "ViewerProtocolPolicy": "redirect-to-https", "Compress": True,
                "AllowedMethods": ["GET", "HEAD"], "CachePolicyId": CACHING_OPTIMIZED,
                "ResponseHeadersPolicyId": ref(HEADERS_POLICY),
            },
            "CacheBehaviors": [{
                "PathPattern": "/api/*", "TargetOriginId": "api", "ViewerProtocolPolicy": "https-only",
                "Compress": True,
                "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                # nothing cached; every viewer header but Host (Authorization, If-None-Match) reaches the API
                "CachePolicyId": CACHING_DISABLED, "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
                "ResponseHeadersPolicyId": ref(HEADERS_POLICY),
            }],
            "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
        }},
    }
    return {HEADERS_POLICY: headers_policy, ORIGIN_ACCESS: origin_access, DISTRIBUTION: distribution}


def outputs() -> Json:
    return {"DashboardUrl": {"Description": "The dashboard (and its API under /api/)",
                             "Value": sub(f"https://${{{DISTRIBUTION}.DomainName}}/")}}
