#!/usr/bin/env python3
"""The official Kloudless Python SDK's OAuth helpers against Cloudbridge.

Two steps, around a browser that the calling test drives:

    kloudless_sdk_oauth.py start APP_ID REDIRECT_URI SCOPE
        prints {"url": ..., "state": ...} from get_authorization_url
    kloudless_sdk_oauth.py finish APP_ID API_KEY STATE REDIRECT_URI RETURNED_URL
        get_token_from_code with the query the browser came back with,
        verify_token, then storage calls with the returned token;
        prints {"token": ..., "account_id": ..., "root_count": ...}

Environment: CLOUDBRIDGE_BASE_URL (e.g. http://127.0.0.1:8000).
"""
from __future__ import print_function

import json
import os
import sys

try:
    from urllib.parse import parse_qsl, urlparse
except ImportError:  # pragma: no cover
    from urlparse import parse_qsl, urlparse

import kloudless
from kloudless import Account, application


def main(argv):
    kloudless.configuration["base_url"] = os.environ["CLOUDBRIDGE_BASE_URL"]
    step = argv[1]
    if step == "start":
        app_id, redirect_uri, scope = argv[2:5]
        url, state = application.get_authorization_url(
            app_id, redirect_uri, scope=scope)
        print(json.dumps({"url": url, "state": state}))
        return 0
    if step == "finish":
        app_id, api_key, state, redirect_uri, returned = argv[2:7]
        params = dict(parse_qsl(urlparse(returned).query))
        token = application.get_token_from_code(
            app_id, api_key, state, redirect_uri, **params)
        info = application.verify_token(app_id, token)
        account = Account(token=token)
        me = account.get()
        folder = account.get("storage/folders/root/contents")
        created = account.post(
            "storage/folders", json={"parent_id": "root", "name": "from-sdk"})
        print(json.dumps({
            "token": token,
            "account_id": info["account_id"],
            "service": me.data["service"],
            "root_type": folder.data.get("type"),
            "created": created.data.get("name"),
        }))
        return 0
    print("unknown step", step, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
