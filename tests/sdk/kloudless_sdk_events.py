#!/usr/bin/env python3
"""Events API through the official Kloudless Python SDK (``kloudless==2.0.1``).

Reads an account's events with the SDK's own cursor logic (``get_paging_iterator``
over ``GET events``) and prints them as JSON lines, then the cursor the SDK ended on.

Environment:
    CLOUDBRIDGE_BASE_URL   e.g. http://127.0.0.1:8000
    CLOUDBRIDGE_TOKEN      bearer token of the account
    CLOUDBRIDGE_CURSOR     where to start
    CLOUDBRIDGE_PAGE_SIZE  events per page

Output: ``event <json>`` per event, ``latest <cursor>`` (from ``events/latest``),
``end <cursor>`` (the SDK's ``latest_cursor`` once it stopped) and ``again <n>``
(events found when iterating again from that cursor: none are expected).
"""
import json
import os

import kloudless
from kloudless import Account

kloudless.configuration["base_url"] = os.environ["CLOUDBRIDGE_BASE_URL"]
account = Account(token=os.environ["CLOUDBRIDGE_TOKEN"])
page_size = int(os.environ["CLOUDBRIDGE_PAGE_SIZE"])

events = account.get(
    "events",
    params={"cursor": os.environ["CLOUDBRIDGE_CURSOR"], "page_size": page_size},
)
for event in events.get_paging_iterator():
    data = event.data
    print("event " + json.dumps(
        {"id": data["id"], "type": data["type"], "path": data["metadata"]["path"]}
    ))
print("latest " + str(account.get("events/latest").data["cursor"]))
print("end " + str(events.latest_cursor))
again = account.get(
    "events", params={"cursor": events.latest_cursor, "page_size": page_size}
)
print("again " + str(len(list(again.get_paging_iterator()))))
