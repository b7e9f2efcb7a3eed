"""The local twin of the AWS services and its supervisor (``python -m infra.local``)."""
