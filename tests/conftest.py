"""Top-level pytest configuration: fixture plugins shared by every test directory."""

pytest_plugins = [
    "tests.fixtures.brokers",
    "tests.fixtures.lms_store",
    "tests.fixtures.moto_server",
    "tests.fixtures.register_cloud",
]
