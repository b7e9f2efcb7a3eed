"""The fault-injection suite on the local twin (``make chaos``): :mod:`tests.chaos.harness`."""
