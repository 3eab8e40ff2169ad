"""Call sites in obfuscated top-level code (`ar.b`, `bi.m`) placed by who calls it.

A class whose package is an obfuscator's name has no namespace to place it (audit/attribution.py rule 4: `unknown`).
Its callers still say whose code it is: a catalogued SDK's named classes call their own renamed internals
(Alipay's jar ships `com.alipay.sdk.app.PayTask` calling `bi.m`), and nothing compiled apart from an SDK calls
those internals by name. So the class is that SDK's when every named caller found (following obfuscated callers
up to MAX_HOPS) is one catalogued SDK's. Any other named caller (the app's own code, a library, an SDK the
catalogue does not know, a second SDK) leaves it `unknown`: R8's shared outlines and the app's own minified
code are called from several places, and an app's code calling an SDK never makes the SDK's code the app's.
What the class itself calls or the hosts in its strings are not counted here: the app's own code calls SDKs and
names their hosts.

Only apps with such call sites pay for it: one reference scan per dex and hop.
"""
from __future__ import annotations

import bisect
import dataclasses
from collections import Counter, defaultdict
from typing import Iterable

from ..attribution import AppContext, looks_obfuscated
from ..catalogue import Catalogue, dotted
from ..model import ActorKind, order_key
from .callsites import CodeIndex
from .dex import DexFile
from .report import CallSite

MAX_HOPS = 3


def place_obfuscated(dexes: list[DexFile], sites: Iterable[CallSite], catalogue: Catalogue,
                     app: AppContext) -> list[CallSite]:
    sites = list(sites)
    pending = sorted({_class_of(s.caller) for s in sites if _unplaced(s)})
    if not pending:
        return sites
    owners = _Owners(dexes, catalogue, app)
    placed = owners.resolve(pending)
    if not placed:
        return sites
    out = [dataclasses.replace(s, actor=placed[_class_of(s.caller)])
           if _unplaced(s) and _class_of(s.caller) in placed else s for s in sites]
    return sorted(out, key=order_key)


def _class_of(caller: str) -> str:
    return caller.split("->", 1)[0]


def _unplaced(site: CallSite) -> bool:
    return (site.actor.kind is ActorKind.UNKNOWN and site.actor.id is None
            and looks_obfuscated(_class_of(site.caller)))


class _Owners:
    def __init__(self, dexes: list[DexFile], catalogue: Catalogue, app: AppContext):
        self.dexes, self.catalogue, self.app = dexes, catalogue, app
        self.index = CodeIndex(dexes)
        self._defined: dict[str, tuple[int, int]] | None = None
        self._actors: dict[str, object] = {}

    def actor(self, class_desc: str):
        actor = self._actors.get(class_desc)
        if actor is None:
            actor = self._actors[class_desc] = self.catalogue.actor_for_class(class_desc, self.app)
        return actor

    def _methods(self, class_desc: str) -> list[str]:
        """The descriptors of the methods a class defines (any dex)."""
        if self._defined is None:
            self._defined = {}
            for dex_i, dex in enumerate(self.dexes):
                for class_def, desc in enumerate(dex.class_descriptors()):
                    self._defined.setdefault(desc, (dex_i, class_def))
        where = self._defined.get(class_desc)
        if where is None:
            return []
        dex = self.dexes[where[0]]
        method_idx, _access, _code, owners = dex.method_table()
        rows = range(bisect.bisect_left(owners, where[1]), bisect.bisect_right(owners, where[1]))
        return [dex.method_descriptor(method_idx[row]) for row in rows]

    def resolve(self, classes: list[str]):
        """class descriptor -> the one catalogued SDK whose named code alone calls it (directly or through
        other obfuscated classes), for the classes that have one."""
        votes: dict[str, Counter] = {cls: Counter() for cls in classes}
        vetoed: set[str] = set()
        seen: dict[str, set[str]] = {cls: {cls} for cls in classes}
        frontier: dict[str, set[str]] = {cls: {cls} for cls in classes}
        for _hop in range(MAX_HOPS):
            wanted: dict[str, set[str]] = defaultdict(set)     # method descriptor -> classes asking
            for cls, members in frontier.items():
                if cls in vetoed:
                    continue
                for member in members:
                    for descriptor in self._methods(member):
                        wanted[descriptor].add(cls)
            if not wanted:
                break
            callers, _ = self.index.references(wanted)
            following: dict[str, set[str]] = defaultdict(set)
            for descriptor, refs in sorted(callers.items()):
                for ref in refs:
                    caller = ref.class_descriptor
                    for cls in wanted[descriptor]:
                        if caller in seen[cls]:
                            continue
                        seen[cls].add(caller)
                        actor = self.actor(caller)
                        if actor.kind is ActorKind.SDK and not (actor.id or "").startswith("unidentified:"):
                            votes[cls][actor] += 1
                        elif actor.kind is ActorKind.UNKNOWN and looks_obfuscated(dotted(caller)):
                            following[cls].add(caller)
                        else:
                            vetoed.add(cls)
            frontier = dict(following)
        return {cls: next(iter(counted)) for cls, counted in votes.items()
                if cls not in vetoed and len(counted) == 1}
