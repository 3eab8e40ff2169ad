"""npm peers for the cross-checks (TrackHAR, Ghostery's TrackerDB), installed once into a cache outside the
repository: $APPAUDIT_NPM_DIR, else $XDG_CACHE_HOME/appaudit/npm, else pytest's cache directory."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[0].parent / "shared"


def npm_dir(config) -> Path:
    if os.environ.get("APPAUDIT_NPM_DIR"):
        return Path(os.environ["APPAUDIT_NPM_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "appaudit" / "npm"
    return Path(config.cache.mkdir("appaudit-npm"))


def npm_package(config, package: str, marker: str) -> Path:
    """The installed package's folder (installing it when missing), or a skip saying why it cannot be."""
    root = npm_dir(config)
    target = root / "node_modules" / package
    if (target / marker).exists():
        return target
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("node and npm are not installed (make setup installs Debian's nodejs npm)")
    root.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(root), package],
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"npm install {package} failed: {exc}")
    if done.returncode != 0 or not (target / marker).exists():
        pytest.skip(f"npm install {package} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return target


def run_trackhar(config, har: Path) -> list:
    package = npm_package(config, "trackhar", "dist/index.js")
    script = package.parent.parent / "run_trackhar.mjs"     # beside node_modules: `import 'trackhar'` resolves
    shutil.copyfile(HERE / "trackhar" / "run_trackhar.mjs", script)
    done = subprocess.run(["node", str(script), str(har)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


# Real tracker bodies of ../shared/corpus/traffic/ios-tracker-requests, sent to the endpoint their SDK uses.
IOS_BODIES = [
    ("3275-airbnb-kochava.json", "https://control.kochava.com/track/json", "application/json"),
    ("5407-audible-kochava.json", "https://control.kochava.com/track/json", "application/json"),
    ("10765-ewa-libs.json", "https://o123.ingest.sentry.io/api/42/store/", "application/json"),
    ("11476-hillclimbracing-device-params.json", "https://live.chartboost.com/webview/v2/prefetch",
     "application/json"),
    ("37251-4pics1word-facebook-meta.txt", "https://graph.facebook.com/network_ads_common",
     "application/x-www-form-urlencoded"),
]


def ios_har(directory: Path) -> Path:
    entries = []
    for name, url, mime in IOS_BODIES:
        body = (SHARED / "corpus" / "traffic" / "ios-tracker-requests" / name).read_text()
        entries.append({"startedDateTime": "2021-06-20T00:00:00.000Z", "time": 1, "request": {
            "method": "POST", "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "queryString": [],
            "headers": [{"name": "Host", "value": url.split("/")[2]}, {"name": "Content-Type", "value": mime}],
            "postData": {"mimeType": mime, "text": body}, "headersSize": -1, "bodySize": len(body)},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                         "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                         "bodySize": 0}, "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}})
    path = directory / "ios-tracker-requests.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "appaudit tests", "version": "1"},
                                        "entries": entries}}))
    return path
