"""V2X over MQTT: brokers, clients, the MQTT log, payload codecs and remote commands.

* :mod:`~harness.mqtt.broker`: the embedded amqtt broker (free loopback port, stop/start).
* :mod:`~harness.mqtt.simbroker`: an in-process broker on the virtual clock (simulated mode).
* :mod:`~harness.mqtt.client`: paho-mqtt 2 on its own thread, handing messages to the loop.
* :mod:`~harness.mqtt.log`: :class:`MqttLog` (what checks read) and ``mqtt.jsonl`` evidence.
* :mod:`~harness.mqtt.codec`: ASN.1 UPER (asn1tools) and JSON with JSON Schema.
* :mod:`~harness.mqtt.commands`: remote commands signed with the PSK, and the wrong ones.
* :mod:`~harness.mqtt.side`: the harness's side of a session; :mod:`harness.session_mqtt`
  (above the adapters) wires it and the simulated TCU's backend into a session.
"""
