"""The twin's stand-in for IoT Core's rules engine: MQTT message on the stand-in broker -> the same Lambda
handler function that an ``AWS::IoT::TopicRule`` invokes in AWS, with the same event (``infra.aws.rules.event_for``
evaluates the rule's SQL: the site id from the topic, the message base64-encoded whole). Driven by
``infra.aws.rules.RULES``.

IoT Core's rules are inside its broker and miss nothing; this engine is a client of the stand-in broker, so the local
cloud gives it its own MQTT client with a persistent session (a privileged certificate, a fixed client id, QoS 1,
a quick reconnect: ``infra/local/cloud.py``) and the broker keeps that session and its queue across restarts
(``infra/mosquitto/iot-core.conf.tmpl``): what arrives while the engine reconnects is delivered afterwards.

Basic Ingest as IoT Core has it: each rule takes its ``FROM`` filter and the same filter behind its own prefix,
``$aws/rules/<rule name>/...`` (what the LMS publishes, ``shared.topics.site_up``); the event is built from the
topic without the prefix, and a message whose topic fails the rule's ``WHERE`` is dropped. Only this engine may
receive ``$aws/rules/...`` on the stand-in broker (``infra.local.basic_ingest``): no other subscriber gets it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from infra.aws.rules import RULES, Rule, event_for
from shared.mqtt import IncomingMessage, MqttClient
from shared.names import Namespace

log = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class RulesEngine:
    """Subscribes every rule's topic filter and invokes its handler, one message at a time."""

    def __init__(self, mqtt: MqttClient, namespace: Namespace, handlers: Mapping[str, LambdaHandler]) -> None:
        missing = [r.handler for r in RULES if r.handler not in handlers]
        if missing:
            raise ValueError(f"rule handlers missing from the app: {missing}")
        self._mqtt = mqtt
        self._namespace = namespace
        self._handlers = handlers
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {r.name: 0 for r in RULES}
        self.errors = 0

    def start(self) -> None:
        for rule in RULES:
            handler = self._make_handler(rule)
            self._mqtt.subscribe(rule.topic_filter(self._namespace), handler, qos=1)
            if rule.channel is not None:  # IoT Core alone publishes lifecycle events: no Basic Ingest for them
                self._mqtt.subscribe(rule.basic_ingest_filter(self._namespace), handler, qos=1)

    def _make_handler(self, rule: Rule) -> Callable[[IncomingMessage], None]:
        def handle(msg: IncomingMessage) -> None:
            if not rule.sees(self._namespace, msg.topic):
                return  # the rule's WHERE does not hold: IoT Core runs no action
            # any payload, as IoT Core's rule does: the SELECT list is functions only (encode(*), topic(n))
            event = event_for(rule, msg.topic, bytes(msg.payload))
            try:
                self._handlers[rule.handler](event, None)
            except Exception:  # a Lambda error: IoT Core logs it and goes on
                self.errors += 1
                log.exception("rule %s: handler %s failed", rule.name, rule.handler)
            finally:
                with self._lock:  # counted once the handler has returned
                    self.invocations[rule.name] += 1

        return handle
