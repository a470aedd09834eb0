# The change events as JSON (KAFKA_EVENT_FORMAT=json), in Python with confluent-kafka.
# python3 consumer.py <bootstrap servers> <topic> <group id>
import json, sys
from confluent_kafka import Consumer

bootstrap, topic, group = sys.argv[1:4]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
consumer.subscribe([topic])
applied = {}  # (tenant, resource id) -> last version applied: delivery is at least once
while True:
    message = consumer.poll(1.0)
    if message is None or message.error():
        continue
    attributes = {key: (value or b"").decode() for key, value in message.headers() or []}
    if not attributes.get("content-type", "").startswith("application/json"):
        continue  # a protobuf event, from before KAFKA_EVENT_FORMAT=json
    data = json.loads(message.value())
    resource = (data["tenant_id"], data["resource_id"])
    if data["version"] > applied.get(resource, 0):
        applied[resource] = data["version"]  # apply the change here, then remember it
        print(attributes["ce_type"], data["resource_id"], data["version"], json.dumps(data), flush=True)
    consumer.commit(message)
