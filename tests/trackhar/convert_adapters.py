"""Write rules/trackers/*.yaml from TrackHAR's adapters (npm `trackhar`, CC0-1.0): endpoints and field paths are
facts about trackers' requests; TrackHAR's reasoning is kept with a pointer to the adapter it came from.

    node tests/trackhar/dump_adapters.mjs > adapters.json   (run where `trackhar` is installed)
    python tests/trackhar/convert_adapters.py adapters.json rules/trackers

Adapters that restructure a request before reading it (getProperty, split, ensureArray) cannot be expressed as
field paths below the decoder's layers; they are listed on stderr and written by hand where needed.
Files already in the output folder without the `source: TrackHAR` marker are hand-written and never replaced.
"""
import json
import os
import re
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_parse
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PROPERTIES = yaml.safe_load((HERE / "properties.yaml").read_text())["properties"]
STEP = {"parseJson": "json", "parseQueryString": "form", "decodeBase64": "base64", "gunzip": "gzip",
        "decodeProtobuf": "protobuf", "decodeJwt": "jwt", "decodeUrl": None}
SDKS = {"facebook": "facebook_sdk", "branch-io": "branch", "adjust": "adjust", "smartbear": "bugsnag",
        "onesignal": "onesignal", "unity": "unity_ads", "ironsource": "ironsource", "yandex": "appmetrica",
        "chartboost": "chartboost", "adcolony": "adcolony", "vungle": "vungle", "mopub": "mopub",
        "start-io": "startapp", "singular-net": "singular", "rayjump": "mintegral", "criteo": "criteo",
        "taboola": "taboola", "outbrain": "outbrain", "pubmatic": "pubmatic", "equativ": "smart_adserver",
        "microsoft": None, "google": None}
NAMES = {"branch-io": "branch", "smartbear": "bugsnag", "yandex": "appmetrica", "unity": "unity-ads"}
TRACKHAR_DOCS = "https://github.com/tweaselORG/TrackHAR/blob/main/research-docs/"


def expand(regex: str, limit: int = 16):
    """The strings a small regular expression matches, or None when it has classes or repeats."""
    def walk(items):
        outs = [""]
        for op, arg in items:
            if op is sre_parse.LITERAL:
                outs = [o + chr(arg) for o in outs]
            elif op is sre_parse.SUBPATTERN:
                sub = walk(arg[-1])
                if sub is None:
                    return None
                outs = [o + s for o in outs for s in sub]
            elif op is sre_parse.BRANCH:
                alts = []
                for branch in arg[1]:
                    sub = walk(branch)
                    if sub is None:
                        return None
                    alts += sub
                outs = [o + s for o in outs for s in alts]
            elif op is sre_parse.MAX_REPEAT and arg[0] == 0 and arg[1] == 1:
                sub = walk(arg[2])
                if sub is None:
                    return None
                outs = [o + s for o in outs for s in ["", *sub]]
            elif op is sre_parse.AT:
                continue
            else:
                return None
            if len(outs) > limit:
                return None
        return outs
    return walk(sre_parse.parse(regex))


def split_url(url):
    if isinstance(url, str):
        match = re.match(r"https?://([^/]+)(/.*)?$", url)
        return [match.group(1)], "^" + re.escape(match.group(2) or "/") + "$"
    source = url["re"]
    match = re.match(r"\^?https\??:\\/\\/(.+?)(\\/.*)?$", source)
    host_re, path_re = match.group(1), (match.group(2) or "\\/")
    hosts = expand(host_re)
    if hosts is None:
        tail = re.sub(r"\\\.", ".", host_re.split("\\.", 1)[1]) if "\\." in host_re else host_re
        tail = tail.split(".")
        hosts = ["*." + ".".join(tail[-2:])]
    path = "^" + path_re.replace("\\/", "/")
    if not path.endswith("$") and not path.endswith(".+") and not path.endswith(".*"):
        path += "$" if "json" not in path else ""
    return sorted(set(hosts)), path


def reasoning(text: str, slug: str) -> str:
    if text.startswith("http"):
        return text
    if text.endswith(".md"):
        return f"TrackHAR research note {TRACKHAR_DOCS}{text} (adapter {slug})"
    return f"{text} (TrackHAR adapter {slug}, CC0)"


def tokens_of(path: str) -> list[str] | None:
    """TrackHAR JSONPath -> keys (`*` any key or index, `[n]` an index); None for filters and deep scans."""
    if path in ("$", ""):
        return []
    if path.startswith("$") or ".." in path or "?" in path or "(" in path:
        return None
    out = []
    for token in re.findall(r"\[[^\]]*\]|[^.\[\]]+", path):
        inner = token[1:-1].strip("'\"") if token.startswith("[") else token
        out.append(f"[{inner}]" if inner.isdigit() else inner)
    return out


def render(keys: list[str]) -> str:
    out = ""
    for key in keys:
        out += key if key.startswith("[") else (f".{key}" if out else key)
    return out


CONTEXTS = ("body", "query", "header", "cookie", "path")


def origins(steps) -> dict[str, tuple[str, list[str]] | None]:
    """Each variable of TrackHAR's decoding program -> (request part, keys) it holds the decoding of, or None
    when it is a restructuring (a filter, a split, a map over a list) that field paths cannot express."""
    found: dict[str, tuple[str, list[str]] | None] = {c: (c, []) for c in CONTEXTS}
    found.update({f"res.{c}": (c, []) for c in CONTEXTS})

    def resolve(name: str):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            head = ".".join(parts[:cut])
            if head in found:
                base = found[head]
                if base is None:
                    return None
                rest = tokens_of(".".join(parts[cut:]))
                return None if rest is None else (base[0], base[1] + rest)
        return None

    for step in steps:
        if "mapInput" in step or step["function"] == "split":
            found[step["output"]] = None
            continue
        if step["function"] == "getProperty" and step["options"]["path"] != "$":
            found[step["output"]] = None
            continue
        found[step["output"]] = resolve(step["input"])
    return found, resolve


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):   # every endpoint spelled out: no &id001 anchors
        return True


def main(dump: str, out_dir: str) -> None:
    adapters = json.loads(Path(dump).read_text())
    files: dict[str, dict] = {}
    for adapter in adapters:
        tracker, _, endpoint_slug = adapter["slug"].partition("/")
        found, resolve = origins(adapter["steps"])
        decoding = sorted({STEP.get(s["function"]) for s in adapter["steps"] if STEP.get(s["function"])
                           and not (s["function"] == "parseQueryString" and s.get("input") == "query")
                           and found.get(s["output"]) is not None})
        protobuf = "protobuf" in decoding
        name = NAMES.get(tracker, tracker)
        doc = files.setdefault(name, {"tracker": name, "name": adapter["tracker"],
                                      **({"sdk": SDKS[tracker]} if SDKS.get(tracker) else {}),
                                      "source": f"TrackHAR adapters {tracker}/* (npm trackhar, CC0-1.0)",
                                      "endpoints": []})
        hosts, paths = set(), set()
        for url in adapter["urls"]:
            url_hosts, path = split_url(url)
            if not all(re.fullmatch(r"(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+", h) for h in url_hosts):
                print(f"skipped url {adapter['slug']} {url}", file=sys.stderr)
                continue
            hosts |= set(url_hosts)
            paths.add(path)
        if not hosts:
            continue
        paths = sorted(paths)
        endpoint = {"id": endpoint_slug, "hosts": sorted(hosts), "decoding": decoding, "fields": {},
                    "path": paths[0] if len(paths) == 1 else "^(?:" + "|".join(p.strip("^$") for p in paths) + ")$"}
        for prop, spec in adapter["paths"].items():
            types = PROPERTIES[prop]
            data_type = types[0] if isinstance(types, list) else types
            for item in spec if isinstance(spec, list) else [spec]:
                origin = resolve(f"res.{item['context']}" + ("" if item["path"] == "$" else "." + item["path"])) \
                    if tokens_of(item["path"]) is not None else None
                if origin is None:
                    print(f"skipped field {adapter['slug']} {item['context']} {item['path']}", file=sys.stderr)
                    continue
                part, keys = origin
                if part == "header" and keys:
                    keys = [keys[0].lower(), *keys[1:]]
                if protobuf:   # the decoder gives repeated protobuf fields one path, without an index
                    keys = [k.strip("[]") for k in keys if k != "*"]   # and field numbers are keys, not indexes
                if not keys:
                    continue
                key = render(keys) if part == "body" else f"{part}:{render(keys)}"
                endpoint["fields"].setdefault(key, {"type": data_type,
                                                    "reasoning": reasoning(item["reasoning"], adapter["slug"])})
        if not endpoint["fields"]:
            continue
        # one endpoint per (hosts, path): a second TrackHAR adapter for the same URL adds its layers and fields
        same = next((e for e in doc["endpoints"] if e["hosts"] == endpoint["hosts"] and e["path"] == endpoint["path"]), None)
        if same:
            same["id"] = os.path.commonprefix([same["id"], endpoint["id"]]).rstrip("-") or same["id"]
            same["decoding"] = sorted(set(same["decoding"]) | set(endpoint["decoding"]))
            for key, value in endpoint["fields"].items():
                same["fields"].setdefault(key, value)
            continue
        ids = {e["id"] for e in doc["endpoints"]}
        while endpoint["id"] in ids:
            endpoint["id"] += "-2"
        doc["endpoints"].append({k: endpoint[k] for k in ("id", "hosts", "path", "decoding", "fields")})
    out = Path(out_dir)
    for name, doc in sorted(files.items()):
        target = out / f"{name}.yaml"
        if target.exists() and "source: TrackHAR" not in target.read_text():
            print(f"kept hand-written {target}", file=sys.stderr)
            continue
        text = "# Generated by tests/trackhar/convert_adapters.py from TrackHAR's adapters (CC0-1.0); edit freely,\n" \
               "# the generator does not overwrite a file whose `source:` no longer names TrackHAR.\n"
        text += yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=150, allow_unicode=True, default_flow_style=None)
        target.write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
