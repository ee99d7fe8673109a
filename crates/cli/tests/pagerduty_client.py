#!/usr/bin/env python3
"""Drives Escalator with PagerDuty's official Python client (PyPI `pagerduty`).

Usage: pagerduty_client.py BASE_URL ROUTING_KEY
Triggers an event with a chosen dedup key, one without (the server returns a
generated key), acknowledges and resolves the first; prints the dedup keys as
JSON. The client refuses plain-HTTP base URLs, so BASE_URL is https and the
test points SSL_CERT_FILE at its CA.
"""

import json
import sys

from pagerduty import EventsApiV2Client

base_url, routing_key = sys.argv[1], sys.argv[2]
client = EventsApiV2Client(routing_key, base_url=base_url)
first = client.trigger(
    "Disk full on db-1 (from the official client)",
    "db-1",
    dedup_key="pd-client-1",
    severity="critical",
    custom_details={"free": "0%"},
)
generated = client.trigger("Second alert", "db-2")
client.acknowledge(first)
client.resolve(first)
print(json.dumps({"first": first, "generated": generated}))
