"""The LMS container: its entrypoint (configuration and cloud enrolment from the environment) and the
site broker's configuration rendered from ``infra/mosquitto``."""
