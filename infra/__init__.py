"""Environments: AWS deploy tooling, Mosquitto configs, the local twin."""
