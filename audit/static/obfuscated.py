"""Call sites in obfuscated code placed by who calls it: top-level code (`ar.b`, `bi.m`), and renamed classes in
the app's own packages where the build moved SDK code too.

A class whose package is an obfuscator's name has no namespace to place it (audit/attribution.py rule 4: `unknown`).
Its callers still say whose code it is: a catalogued SDK's named classes call their own renamed internals
(Alipay's jar ships `com.alipay.sdk.app.PayTask` calling `bi.m`), and nothing compiled apart from an SDK calls
those internals by name. So the class is that SDK's when every named caller found (following obfuscated callers
up to MAX_HOPS) is one catalogued SDK's. Any other named caller (the app's own code, a library, an SDK the
catalogue does not know, a second SDK) leaves it `unknown`: R8's shared outlines and the app's own minified
code are called from several places, and an app's code calling an SDK never makes the SDK's code the app's.
What the class itself calls or the hosts in its strings are not counted here: the app's own code calls SDKs and
names their hosts.

R8 / ProGuard can also move renamed SDK code into one of the app's own packages (`-repackageclasses com.app`,
`-flattenpackagehierarchy`): the SDK's kept classes (`com.appsflyer.AppsFlyerLib`, named by the manifest or by
reflection) then call `com.app.b`, and the package name calls it the app's. No separately compiled SDK calls the
app's own classes by name (it calls back through its own interfaces), so a renamed class of an app package that a
catalogued SDK's named code calls is that SDK's code, and that package is one the build moved SDK code into. There,
a renamed class's name says nothing about who wrote it: it is placed by its callers as above (following renamed
callers of the same package too), and where they do not name one SDK it is `unknown` with the reason, never
first party by default. A renamed class that a catalogued library's or SDK's named class extends is not the app's
either (separately compiled code extends only its own and its dependencies' classes): its package is one the build
moved other code into too. Renamed classes of app packages no SDK calls into and no catalogued code extends stay
the app's (R8 without repackaging keeps each class in its package).

Renamed library code is also known by what renaming keeps (rules/libraries.yaml `renamed_signatures`): a string
constant only that library's class holds, or its source-file name in the debug info (AppCompat's TwilightManager
renamed `e.k`, reading the last known location, keeps its message and `TwilightManager.java`). That places any
renamed calling class the callers do not, top-level or in the app's own packages, moved into or not.

The same hierarchy places renamed code the callers leave unplaced: a class whose only named subclasses are one
catalogued library's is that library's (`k.w`, AppCompatEditText renamed, extended by Material's
TextInputEditText); an SDK's subclass does not decide (the renamed class may be a library the SDK builds on).

An SDK a shading tool relocated under the app's package without its top-level label (`com.app.vendor.adjust.sdk`;
with it, attribution.relocated_match places it by name) is found by its entry class relocated the same way
(`com.app.vendor.adjust.sdk.Adjust`): the first-party call sites under that package are the SDK's.

Only apps with such call sites pay for it: one reference scan per dex and hop, and one more for the app packages
holding renamed call sites.
"""
from __future__ import annotations

import bisect
import dataclasses
from collections import Counter, defaultdict
from typing import Iterable, NamedTuple

from ..attribution import (AppContext, attribution_rules, looks_obfuscated, moved_code_actor, obfuscated_class_name,
                           package_of)
from ..catalogue import Catalogue, dotted
from ..model import Actor, ActorKind, order_key
from .callsites import CodeIndex
from .dex import DexFile, EncodedMethod
from .report import CallSite

MAX_HOPS = 3


def place_obfuscated(dexes: list[DexFile], sites: Iterable[CallSite], catalogue: Catalogue,
                     app: AppContext) -> list[CallSite]:
    return place_obfuscated_with_rules(dexes, sites, catalogue, app).sites


class Placed(NamedTuple):
    sites: list[CallSite]
    # the rules found, for the stacks of the runtime and traffic stages (attribution.with_static_placements):
    moved_into: list[tuple[str, str]]            # app package the build moved other code into -> what shows it
    relocated_sdks: list[tuple[str, Actor]]      # SDK package shaded under the app's package -> the SDK


def place_obfuscated_with_rules(dexes: list[DexFile], sites: Iterable[CallSite], catalogue: Catalogue,
                                app: AppContext) -> Placed:
    """place_obfuscated, and the moved-into packages and relocated SDK packages it found."""
    sites, relocated = _relocated_by_entry_class(dexes, list(sites), catalogue)
    pending = sorted({_class_of(s.caller) for s in sites if _unplaced(s)})
    renamed_own = sorted({_class_of(s.caller) for s in sites if _renamed_first_party(s)})
    if not pending and not renamed_own:
        return Placed(sites, [], relocated)
    owners = _Owners(dexes, catalogue, app)
    if renamed_own:
        owners.moved_into = owners.packages_holding_catalogued_code(renamed_own)
        pending += [cls for cls in renamed_own if package_of(cls) in owners.moved_into]
    moved_into = [(dotted(package), _moved_why(*shown)) for package, shown in sorted(owners.moved_into.items())]
    placed = {cls: actor for cls in renamed_own if cls not in pending
              and (actor := owners.signature_library(cls)) is not None}
    if not pending and not placed:
        return Placed(sites, moved_into, relocated)
    placed.update(owners.resolve(pending) if pending else {})
    for cls in pending:
        if cls in placed:
            continue
        library = owners.signature_library(cls) or owners.extended_by_one_library(cls)
        moved = owners.moved_into.get(package_of(cls))
        if library is not None:
            placed[cls] = library
        elif moved is not None:
            placed[cls] = moved_code_actor(package_of(dotted(cls)), _moved_why(*moved),
                                           "this one's callers name no one SDK")
    if not placed:
        return Placed(sites, moved_into, relocated)
    out = [dataclasses.replace(s, actor=placed[_class_of(s.caller)])
           if (_unplaced(s) or _renamed_first_party(s)) and _class_of(s.caller) in placed else s for s in sites]
    return Placed(sorted(out, key=order_key), moved_into, relocated)


def _moved_why(owner: str, example: str, verb: str) -> str:
    return f"{dotted(example)} of {owner} {verb} its classes"


def _relocated_by_entry_class(dexes: list[DexFile], sites: list[CallSite],
                              catalogue: Catalogue) -> tuple[list[CallSite], list[tuple[str, Actor]]]:
    """First-party call sites in an SDK a shading tool relocated under the app's package without its top-level
    label (`com.app.vendor.adjust.sdk`, where attribution.relocated_match looks for `com.adjust.sdk`): found by
    the SDK's entry class relocated the same way (`com.app.vendor.adjust.sdk.Adjust` for `com.adjust.sdk.Adjust`:
    its name and package path are the SDK's), the call sites under the relocated package are that SDK's."""
    own = {_class_of(s.caller) for s in sites if s.actor.kind is ActorKind.FIRST_PARTY}
    if not own:
        return sites, []
    tails: dict[str, list[tuple[str, str, str]]] = defaultdict(list)   # simple name -> (tail, relocated root, id)
    for sdk in catalogue.sdks:
        for entry in sdk.entry_classes:
            for prefix in sdk.packages:
                if prefix.count(".") >= 1 and entry.startswith(prefix + "."):
                    tail = entry.split(".", 1)[1]             # adjust.sdk.Adjust
                    tails[entry.rpartition(".")[2]].append((tail, prefix.split(".", 1)[1], sdk.id))
    roots: list[tuple[str, Actor]] = []
    for dex in dexes:
        for desc in dex.class_descriptors():
            name = dotted(desc)
            for tail, root, sdk_id in tails.get(name.rpartition(".")[2], ()):
                if name.endswith("." + tail) and catalogue.match_prefix(name) is None:
                    roots.append((name[:-len(tail)] + root, Actor(ActorKind.SDK, sdk_id)))
    if not roots:
        return sites, []
    placed = {}
    for cls in own:
        found = max((r for r in roots if dotted(cls) == r[0] or dotted(cls).startswith(r[0] + ".")),
                    key=lambda r: len(r[0]), default=None)
        if found is not None:
            placed[cls] = found[1]
    return [dataclasses.replace(s, actor=placed[_class_of(s.caller)])
            if s.actor.kind is ActorKind.FIRST_PARTY and _class_of(s.caller) in placed else s for s in sites], roots


def _class_of(caller: str) -> str:
    return caller.split("->", 1)[0]


def _unplaced(site: CallSite) -> bool:
    return (site.actor.kind is ActorKind.UNKNOWN and site.actor.id is None
            and looks_obfuscated(_class_of(site.caller)))


def _renamed_first_party(site: CallSite) -> bool:
    return site.actor.kind is ActorKind.FIRST_PARTY and obfuscated_class_name(_class_of(site.caller))


def _named_sdk(actor: Actor) -> bool:
    return actor.kind is ActorKind.SDK and not (actor.id or "").startswith("unidentified:")


class _Owners:
    def __init__(self, dexes: list[DexFile], catalogue: Catalogue, app: AppContext):
        self.dexes, self.catalogue, self.app = dexes, catalogue, app
        self.index = CodeIndex(dexes)
        self._defined: dict[str, tuple[int, int]] | None = None
        self._actors: dict[str, object] = {}
        # app package -> (SDK / library id, its class, `calls` or `extends`): packages other code was moved into
        self.moved_into: dict[str, tuple[str, str, str]] = {}

    def actor(self, class_desc: str):
        actor = self._actors.get(class_desc)
        if actor is None:
            actor = self._actors[class_desc] = self.catalogue.actor_for_class(class_desc, self.app)
        return actor

    def _methods(self, class_desc: str) -> list[str]:
        """The descriptors of the methods a class defines (any dex)."""
        where = self._defined_classes().get(class_desc)
        if where is None:
            return []
        dex = self.dexes[where[0]]
        method_idx, _access, _code, owners = dex.method_table()
        rows = range(bisect.bisect_left(owners, where[1]), bisect.bisect_right(owners, where[1]))
        return [dex.method_descriptor(method_idx[row]) for row in rows]

    def _defined_classes(self) -> dict[str, tuple[int, int]]:
        if self._defined is None:
            self._defined = {}
            for dex_i, dex in enumerate(self.dexes):
                for class_def, desc in enumerate(dex.class_descriptors()):
                    self._defined.setdefault(desc, (dex_i, class_def))
        return self._defined

    def packages_holding_catalogued_code(self, classes: list[str]) -> dict[str, tuple[str, str, str]]:
        """Of the app packages of these renamed first-party classes, those holding a renamed class that a
        catalogued SDK's code calls or that catalogued code (SDK or library) extends: package -> (SDK or library
        id, its class, `calls` / `extends`). One reference scan; the hierarchy is the dexes' own."""
        packages = {package_of(cls) for cls in classes}
        members = [desc for desc in self._defined_classes()
                   if package_of(desc) in packages and obfuscated_class_name(desc)]
        found: dict[str, tuple[str, str, str]] = {}
        for desc in members:
            for child in self.index.descendants(desc):
                actor = self.actor(child)
                if actor.kind is ActorKind.LIBRARY or _named_sdk(actor):
                    found.setdefault(package_of(desc), (actor.id, child, "extends"))
                    break
        wanted = {descriptor: package_of(desc) for desc in members for descriptor in self._methods(desc)
                  if package_of(desc) not in found}
        callers, _ = self.index.references(wanted) if wanted else ({}, {})
        for descriptor, refs in sorted(callers.items()):
            for ref in refs:
                actor = self.actor(ref.class_descriptor)
                if _named_sdk(actor):
                    found.setdefault(wanted[descriptor], (actor.id, ref.class_descriptor, "calls"))
        return found

    def signature_library(self, class_desc: str) -> Actor | None:
        """The library whose renamed code this class is by what renaming keeps (rules/libraries.yaml
        `renamed_signatures`): the source-file name in its debug info, or one of its string constants."""
        where = self._defined_classes().get(class_desc)
        rules = attribution_rules()
        if where is None or not (rules.signature_files or rules.signature_strings):
            return None
        dex = self.dexes[where[0]]
        files, strings = dict(rules.signature_files), dict(rules.signature_strings)
        source_idx = dex.class_defs[where[1]].source_file_idx
        if source_idx < dex.string_ids_size and dex.string(source_idx) in files:
            return Actor(ActorKind.LIBRARY, files[dex.string(source_idx)])
        method_idx, flags, code, owners = dex.method_table()
        for row in range(bisect.bisect_left(owners, where[1]), bisect.bisect_right(owners, where[1])):
            if not code[row]:
                continue
            for string_idx in dex.body(EncodedMethod(method_idx[row], flags[row], code[row], owners[row])).strings:
                text = dex.string(string_idx) if string_idx < dex.string_ids_size else ""
                if text in strings:
                    return Actor(ActorKind.LIBRARY, strings[text])
        return None

    def extended_by_one_library(self, class_desc: str) -> Actor | None:
        """The catalogued library whose classes are the only named ones extending this class (a superclass or
        interface of a library's class is that library's code or its dependencies', never the app's: separately
        compiled code extends only its own and its dependencies' classes). An SDK's subclass does not decide (its
        renamed superclass may be a library it depends on), and neither does any other named subclass."""
        found: set[Actor] = set()
        for child in self.index.descendants(class_desc):
            actor = self.actor(child)
            if actor.kind is ActorKind.UNKNOWN or (actor.kind is ActorKind.FIRST_PARTY and self._follows(child, actor)):
                continue          # renamed itself: says nothing
            if actor.kind is not ActorKind.LIBRARY:
                return None
            found.add(actor)
        return found.pop() if len(found) == 1 else None

    def _follows(self, caller: str, actor) -> bool:
        """A caller that is itself unplaceable by name: obfuscated top-level code, or a renamed class in an app
        package SDK code was moved into."""
        if actor.kind is ActorKind.UNKNOWN and looks_obfuscated(dotted(caller)):
            return True
        return (actor.kind is ActorKind.FIRST_PARTY and package_of(caller) in self.moved_into
                and obfuscated_class_name(caller))

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
                        if _named_sdk(actor):
                            votes[cls][actor] += 1
                        elif self._follows(caller, actor):
                            following[cls].add(caller)
                        else:
                            vetoed.add(cls)
            frontier = dict(following)
        return {cls: next(iter(counted)) for cls, counted in votes.items()
                if cls not in vetoed and len(counted) == 1}
