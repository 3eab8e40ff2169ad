"""mitmdump addon for the traffic tests: answers every request itself, so no upstream or network is needed."""
from mitmproxy import http


def request(flow: http.HTTPFlow) -> None:
    flow.response = http.Response.make(200, b'{"ok":true}', {"content-type": "application/json"})
