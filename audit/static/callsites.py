"""Sensitive-API call sites in DEX code, attributed to who makes them, with a cheap reachability verdict.

How the search stays fast (a full report on a 5 MB dex in a fraction of a second): no instruction of a method
is decoded unless the method may contain a wanted reference.
1. The wanted method_ids / field_ids are found by binary search in each dex's sorted tables (a few dozen).
   So are the references that reach a rule's method by inheritance: d8 names a call with the receiver's static
   type (`this.managedQuery(..)` in an Activity subclass is `Lcom/app/Main;->managedQuery`), so a reference named
   like a method rule whose class the app's dexes define is resolved up the superclasses they define, to the
   class a rule names, unless a class on the way declares the method (CodeIndex.inherited_rules).
2. One bytes-regex pass over the code area finds candidate positions: an invoke opcode (35c/3rc/45cc/4rcc) or
   sget opcode (21c), any byte, then the little-endian index of a wanted id (for a handful of ids, a
   bytes.find per index is quicker and gives the same positions).
3. Each candidate's offset is mapped to its code_item (bisect over sorted code ranges) and only that method
   is walked, instruction by instruction (switch/array payloads skipped by their lengths). A candidate
   counts only if it is a real instruction boundary: data that merely looks like an invoke is dropped.
The same walk collects the method's const-string and sget references for `args_any` / `fields_any`.

Attribution: actor = audit.attribution.actor_for_class(caller class, the app's context), the one rule every
stage uses. A call made inside a support library (actor kind `library`: androidx, support, kotlin ...) is a
wrapper: its callers are followed (same technique, depth <= 3) and each non-library caller gets its own
CallSite with `via` = the library method that made the call. With no such caller the library-attributed site
is kept, except for R8-renamed classes inside a library family that holds SDKs (`com.google.android.gms.internal.zzb`):
those are placed by their own evidence (hosts in their strings, catalogued SDK classes they call), or are
`unknown` with the reason, never the library by default.

Reachability (level `reachable` rather than `present`): the calling method is reached from an entry point
by the call graph of audit/static/callgraph.py (lifecycle and callbacks of the manifest's components,
dispatch by class hierarchy, hand-offs to the framework, constant reflection); the CallSite then carries the
shortest path, entry method first. (The tracer below still answers "is this method referenced at all" while
it follows wrappers; that one-level answer is no longer what `reachable` means.)
"""
from __future__ import annotations

import bisect
import collections
import itertools
import re
import struct
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..attribution import UNIDENTIFIED, AppContext, actor_for_host, obfuscated_class_name, package_of
from ..catalogue import Catalogue, dotted, load_catalogue
from ..model import Actor, ActorKind, order_key
from .apis import ApiRule, EntryPoints, class_descriptor, load_apis, load_entrypoints
from .callgraph import with_paths
from .dex import (ACC_CONSTRUCTOR, ACC_INTERFACE, ACC_PRIVATE, ACC_STATIC, NO_INDEX, DexFile, EncodedMethod,
                  INVOKE_OPCODES, SGET_OPCODES)
from .report import CallSite

MAX_WRAPPER_DEPTH = 3
MAX_EVIDENCE_HOPS = 3         # renamed family code still silent: callers of its class, then of theirs ... (a scan each;
                              # 3: AdMob's zzafd Runnable <- zzafc <- zzabl <- zzabt, which names AdMob)
FIND_TARGETS_MAX = 4          # up to this many wanted ids, bytes.find beats one regex pass (measured)
REGEX_TARGETS_MAX = 300       # beyond this many, an any-index pass + set lookup beats the alternation (measured)
MAX_HIERARCHY = 200           # ancestors/descendants considered per method: bounded on huge hierarchies
_OPS_INVOKE = bytes(sorted(INVOKE_OPCODES))
_OPS_SGET = bytes(sorted(SGET_OPCODES))


@dataclass
class _Hierarchy:
    """One dex's class hierarchy as type indices (see CodeIndex._per_dex_hierarchy)."""

    defined: dict = field(default_factory=dict)                                  # class -> its first ClassDef
    subclasses: defaultdict = field(default_factory=lambda: defaultdict(list))  # superclass -> classes
    implementers: dict = field(default_factory=dict)                             # type_list offset -> classes
    lists_naming: defaultdict = field(default_factory=lambda: defaultdict(list))  # interface -> list offsets


@dataclass(frozen=True)
class MethodRef:
    """A defined method: where it lives and its Dalvik descriptor."""

    dex: int
    method: EncodedMethod
    descriptor: str

    @property
    def class_descriptor(self) -> str:
        return self.descriptor.split("->", 1)[0]

    @property
    def name(self) -> str:
        rest = self.descriptor.split("->", 1)[1]
        return rest[:rest.index("(")]


@dataclass(frozen=True)
class Hit:
    """One confirmed instruction referring to a wanted id."""

    dex: int
    caller: EncodedMethod
    pc: int
    kind: str      # "method" or "field"
    index: int     # method_idx or field_idx in that dex


def _byte_class(values: bytes) -> bytes:
    return b"[" + b"".join(re.escape(bytes([v])) for v in values) + b"]"


def _index_alternation(indices: Iterable[int]) -> bytes:
    """Any of these 16-bit little-endian indices. A lookahead on the high byte comes first: one bitmap test
    rejects most invoke-shaped bytes before the alternatives are tried one by one (a third of the search)."""
    packed = [struct.pack("<H", i) for i in sorted(indices)]
    high_bytes = _byte_class(bytes(sorted({p[1] for p in packed})))
    return rb"(?=[\x00-\xff]" + high_bytes + rb")(?:" + b"|".join(re.escape(p) for p in packed) + b")"


class CodeIndex:
    """Cross-dex reference search over a list of DexFiles (every classes*.dex of an app, splits included)."""

    def __init__(self, dexes: list[DexFile]):
        self.dexes = dexes
        self._areas = [dex.code_area() for dex in dexes]
        self._hierarchy: list[_Hierarchy] | None = None
        self.hierarchy_cut = 0      # walks stopped at MAX_HIERARCHY classes
        self._class_defs: dict[str, tuple[int, object] | None] = {}   # descriptor -> (dex, first ClassDef)
        self._defined: list[dict] | None = None
        self._declared: dict[tuple[int, int], dict[int, list[int]]] = {}  # (dex, class_def) -> name -> protos
        self._inherited: dict[tuple[str, str, str], tuple] = {}      # (class, name, proto) -> rules reached
        self.inherit_steps = 0      # (class, member) pairs resolved: one each, however many refs ask
        self.candidates = 0
        self.confirmed = 0
        self.scans = 0

    # -- scanning ---------------------------------------------------------------------------------------
    def scan(self, dex_i: int, methods: Iterable[int] = (), fields: Iterable[int] = ()) -> list[Hit]:
        """Every real invoke of one of `methods` / sget of one of `fields` in dex `dex_i`, in file order."""
        methods, fields = set(methods), set(fields)
        if not methods and not fields:
            return []
        dex = self.dexes[dex_i]
        hits: list[Hit] = []
        self.scans += 1
        data = dex.data
        for offset in self._candidates(dex_i, methods, fields):
            self.candidates += 1
            method = dex.method_at(offset)
            if method is None:
                continue
            relative = offset - (method.code_off + 16)
            if relative & 1:
                continue
            pc = relative >> 1
            body = dex.body(method)
            index = data[offset + 2] | (data[offset + 3] << 8)
            if data[offset] in INVOKE_OPCODES:
                if body.invokes.get(pc) == index and index in methods:
                    hits.append(Hit(dex_i, method, pc, "method", index))
                    self.confirmed += 1
            elif body.static_gets.get(pc) == index and index in fields:
                hits.append(Hit(dex_i, method, pc, "field", index))
                self.confirmed += 1
        return hits

    def _candidates(self, dex_i: int, methods: set[int], fields: set[int]) -> Iterator[int]:
        """File offsets that may be an invoke of `methods` / sget of `fields`, in increasing order.

        Few targets: bytes.find of each 2-byte index (C speed, a handful of passes). Many: one regex pass
        with an alternation of the indices. Matches may overlap: a false one must not hide a real one."""
        data = self.dexes[dex_i].data
        start, end = self._areas[dex_i]
        if len(methods) + len(fields) <= FIND_TARGETS_MAX:
            found = []
            for wanted, opcodes in ((methods, INVOKE_OPCODES), (fields, SGET_OPCODES)):
                for index in wanted:
                    needle = struct.pack("<H", index)
                    pos = data.find(needle, start + 2, end)
                    while pos != -1:
                        if data[pos - 2] in opcodes:
                            found.append(pos - 2)
                        pos = data.find(needle, pos + 1, end)
            yield from sorted(found)
            return
        if len(methods) + len(fields) > REGEX_TARGETS_MAX:
            # Thousands of ids make a slow alternation: match any invoke/sget shape, filter by set lookup.
            any_index = rb"[\x00-\xff]{3}"
            search = re.compile(_byte_class(_OPS_INVOKE + _OPS_SGET) + any_index, re.DOTALL).search
            pos = start
            while True:
                match = search(data, pos, end)
                if match is None:
                    return
                offset = match.start()
                index = data[offset + 2] | (data[offset + 3] << 8)
                if index in (methods if data[offset] in INVOKE_OPCODES else fields):
                    yield offset
                pos = offset + 1
        parts = []
        if methods:
            parts.append(_byte_class(_OPS_INVOKE) + rb"[\x00-\xff]" + _index_alternation(methods))
        if fields:
            parts.append(_byte_class(_OPS_SGET) + rb"[\x00-\xff]" + _index_alternation(fields))
        search = re.compile(b"|".join(parts), re.DOTALL).search
        pos = start
        while True:
            match = search(data, pos, end)
            if match is None:
                return
            yield match.start()
            pos = match.start() + 1

    def references(self, descriptors: Iterable[str] = (), constructors_of: Iterable[str] = ()) \
            -> tuple[dict[str, list[MethodRef]], dict[str, list[MethodRef]]]:
        """One scan per dex answering two questions at once:
        - for each method descriptor, the methods (in any dex) that invoke it;
        - for each class descriptor, the methods of *other* classes that invoke one of its constructors."""
        wanted, classes = sorted(set(descriptors)), sorted(set(constructors_of))
        callers: dict[str, list[MethodRef]] = {d: [] for d in wanted}
        creators: dict[str, list[MethodRef]] = {c: [] for c in classes}
        for dex_i, dex in enumerate(self.dexes):
            by_index: dict[int, list[tuple[str, str]]] = defaultdict(list)
            for desc in wanted:
                index = dex.find_method(desc)
                if index is not None:
                    by_index[index].append(("method", desc))
            for cls in classes:
                for index in dex.find_methods(cls, "<init>"):
                    by_index[index].append(("new", cls))
            for hit in self.scan(dex_i, methods=by_index):
                ref = self.method_ref(dex_i, hit.caller)
                for kind, key in by_index[hit.index]:
                    if kind == "method":
                        callers[key].append(ref)
                    elif ref.class_descriptor != key:
                        creators[key].append(ref)
        return callers, creators

    def method_ref(self, dex_i: int, method: EncodedMethod) -> MethodRef:
        return MethodRef(dex_i, method, self.dexes[dex_i].method_descriptor(method.method_idx))

    # -- class hierarchy (type indices per dex; descriptors decoded only for the classes visited) ---------
    # Built once per dex in time linear in the file: classes by superclass, classes by interfaces list, and
    # for each interface the lists naming it. A dex shares one type_list among every class implementing the
    # same interfaces, so indexing (interface -> classes) pair by pair would cost classes x list length: one
    # list of 65 535 interfaces shared by 65 535 classes is four billion pairs from a 20 KB APK.
    def _per_dex_hierarchy(self) -> list[_Hierarchy]:
        if self._hierarchy is None:
            self._hierarchy = []
            for dex in self.dexes:
                tree = _Hierarchy()
                for cdef in dex.class_defs:
                    tree.defined.setdefault(cdef.class_idx, cdef)
                    if cdef.superclass_idx != NO_INDEX:
                        tree.subclasses[cdef.superclass_idx].append(cdef.class_idx)
                    if cdef.interfaces_off:
                        implementers = tree.implementers.get(cdef.interfaces_off)
                        if implementers is None:
                            implementers = tree.implementers[cdef.interfaces_off] = []
                            for parent in dict.fromkeys(dex.type_list(cdef.interfaces_off)):
                                tree.lists_naming[parent].append(cdef.interfaces_off)
                        implementers.append(cdef.class_idx)
                self._hierarchy.append(tree)
        return self._hierarchy

    def class_def(self, class_desc: str):
        """(dex index, ClassDef) of the first definition of a class in the dexes, else None (memoised)."""
        try:
            return self._class_defs[class_desc]
        except KeyError:
            pass
        if self._defined is None:    # class type index -> first ClassDef, per dex (the tree without its lists)
            self._defined = [{} for _ in self.dexes]
            for defined, dex in zip(self._defined, self.dexes):
                for cdef in dex.class_defs:
                    defined.setdefault(cdef.class_idx, cdef)
        found = None
        for dex_i, (dex, defined) in enumerate(zip(self.dexes, self._defined)):
            type_idx = dex.find_type(class_desc)
            cdef = defined.get(type_idx) if type_idx is not None else None
            if cdef is not None:
                found = (dex_i, cdef)
                break
        self._class_defs[class_desc] = found
        return found

    def _declares(self, dex_i: int, cdef, name: str, proto: str) -> bool:
        """Does this class_def define (with code, abstract or native) the method `name` with this proto?
        Its methods are read once (name index -> proto indices), protos decoded only for the names asked."""
        by_name = self._declared.get((dex_i, cdef.index))
        dex = self.dexes[dex_i]
        if by_name is None:
            by_name = self._declared[(dex_i, cdef.index)] = defaultdict(list)
            idxs, _flags, _offs, owners = dex.method_table()   # rows grouped by class_def, in class_def order
            for row in range(bisect.bisect_left(owners, cdef.index), bisect.bisect_right(owners, cdef.index)):
                _class_idx, proto_idx, name_idx = dex.method_id(idxs[row])
                by_name[name_idx].append(proto_idx)
        name_idx = dex.find_string(name)
        return name_idx in by_name and any(dex.proto_descriptor(p) == proto for p in by_name[name_idx])

    def inherited_rules(self, class_desc: str, name: str, proto: str, named: dict) -> tuple:
        """The rules a method reference `class_desc->name proto` reaches by inheritance, as the VM resolves it:
        up the superclasses of the classes the dexes define (super-interfaces for an interface) to the first
        class a rule names for this member (`named`: (class, name) -> rules; a rule's signature, when given,
        must equal the proto) -- nothing when a class of the app on the way declares the method (the call runs
        the app's code) or the chain leaves the app's classes before a rule names one (a platform class of its
        own: rules/apis.yaml lists each platform class it means, subclasses included).

        Memoised per (class, member): every class is resolved once for a member however many references and
        subclasses ask, so the work is linear in the classes (`inherit_steps` counts it). Iterative: a chain
        of thousands of classes (or a cycle, in a broken dex) needs no recursion."""
        memo = self._inherited
        stack: list[tuple[str, list[str] | None]] = [(class_desc, None)]   # (class, its parents once expanded)
        while stack:
            cls, parents = stack.pop()
            key = (cls, name, proto)
            if parents is None:
                if key in memo:
                    continue
                self.inherit_steps += 1
                matched = tuple(r for r in named.get((cls, name), ()) if r.signature in (None, proto))
                found = self.class_def(cls)
                if matched or found is None or self._declares(*found, name, proto):
                    memo[key] = matched
                    continue
                memo[key] = ()      # provisional: what a cycle back to this class resolves to
                parents = self._resolution_parents(*found)
                stack.append((cls, parents))
                stack.extend((p, None) for p in parents)
            else:
                reached: dict = {}
                for parent in parents:
                    reached.update(dict.fromkeys(memo.get((parent, name, proto), ())))
                memo[key] = tuple(reached)
        return memo[(class_desc, name, proto)]

    def _resolution_parents(self, dex_i: int, cdef) -> list[str]:
        """Where the VM looks next for a method a class does not declare: its superclass; for an interface, its
        super-interfaces, at most MAX_HIERARCHY (a dex may share one list of 65 535 interfaces among 65 535
        interfaces: all of it for each would be quadratic; a cut is counted in hierarchy_cut). A class's own
        interfaces are not followed: a method it only inherits from an interface is abstract there and runs
        the code of an app subclass."""
        dex = self.dexes[dex_i]
        if cdef.access_flags & ACC_INTERFACE:
            parents = dex.type_list(cdef.interfaces_off)
            if len(parents) > MAX_HIERARCHY:
                self.hierarchy_cut += 1
                parents = parents[:MAX_HIERARCHY]
            return [dex.type_name(t) for t in parents]
        superclass = dex.superclass(cdef)
        return [superclass] if superclass else []

    def _parents(self, class_desc: str) -> Iterator[str] | None:
        """Superclass then interfaces of a class the dexes define (the first definition wins), else None."""
        for dex, tree in zip(self.dexes, self._per_dex_hierarchy()):
            type_idx = dex.find_type(class_desc)
            cdef = tree.defined.get(type_idx) if type_idx is not None else None
            if cdef is not None:
                superclass = dex.superclass(cdef)
                return itertools.chain([superclass] if superclass else [],
                                       (dex.type_name(t) for t in dex.type_list(cdef.interfaces_off)))
        return None

    def defines(self, class_desc: str) -> bool:
        return self._parents(class_desc) is not None

    def _children(self, class_desc: str) -> Iterator[str]:
        for dex, tree in zip(self.dexes, self._per_dex_hierarchy()):
            type_idx = dex.find_type(class_desc)
            if type_idx is None:
                continue
            for child in tree.subclasses.get(type_idx, ()):
                yield dex.type_name(child)
            for list_off in tree.lists_naming.get(type_idx, ()):
                for child in tree.implementers[list_off]:
                    yield dex.type_name(child)

    def ancestors(self, class_desc: str) -> list[str]:
        """Superclasses and interfaces, transitively, as far as the dexes define them (plus the first
        undefined one of each line, e.g. android.app.Activity)."""
        return self._walk(class_desc, lambda c: self._parents(c) or ())

    def descendants(self, class_desc: str) -> list[str]:
        return self._walk(class_desc, self._children)

    def _walk(self, start: str, step) -> list[str]:
        """Breadth first, at most MAX_HIERARCHY classes; a walk cut there is counted (the scan reports it)."""
        out, queue, seen = [], collections.deque([start]), {start}
        while queue:
            for nxt in step(queue.popleft()):
                if nxt in seen:
                    continue
                if len(out) >= MAX_HIERARCHY:
                    self.hierarchy_cut += 1
                    return out
                seen.add(nxt)
                out.append(nxt)
                queue.append(nxt)
        return out

    def dispatch_aliases(self, ref: MethodRef) -> list[str]:
        """Descriptors an invoke may name and still land in this method (virtual dispatch)."""
        flags = ref.method.access_flags
        if flags & (ACC_STATIC | ACC_PRIVATE | ACC_CONSTRUCTOR) or ref.name.startswith("<"):
            return []
        class_desc, _, member = ref.descriptor.partition("->")
        # Only classes the app defines: an invoke of a framework type's method (Runnable.run, Object.toString)
        # says nothing about which implementation runs; framework callbacks are rules/entrypoints.yaml's job.
        others = [c for c in self.ancestors(class_desc) if self.defines(c)] + self.descendants(class_desc)
        return [f"{other}->{member}" for other in others]


# -- the call-site search -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RawSite:
    rule: ApiRule
    api: str
    caller: MethodRef


def _targets(dex: DexFile, rules: Iterable[ApiRule]) -> tuple[dict[int, list[ApiRule]], dict[int, list[ApiRule]]]:
    methods: dict[int, list[ApiRule]] = defaultdict(list)
    fields: dict[int, list[ApiRule]] = defaultdict(list)
    for rule in rules:
        if rule.method is not None:
            for index in dex.find_methods(rule.class_descriptor, rule.method, rule.signature):
                methods[index].append(rule)
        else:
            for index in dex.find_fields(rule.class_descriptor, rule.field):
                fields[index].append(rule)
    return methods, fields


def _condition_met(dex: DexFile, caller: EncodedMethod, rule: ApiRule, field_cache: dict) -> bool:
    if not rule.conditional:
        return True
    body = dex.body(caller)
    if rule.also_any and not any(index < dex.string_ids_size and dex.string(index).startswith(rule.also_any)
                                 for index in body.strings):
        return False
    if rule.args_any:
        for string_idx in body.strings:
            if string_idx < dex.string_ids_size and dex.string(string_idx).startswith(rule.args_any):
                return True
    if rule.fields_any:
        wanted = rule.field_refs()
        for field_idx in body.static_gets.values():
            key = field_cache.get(field_idx)
            if key is None and field_idx < dex.field_ids_size:
                class_idx, _type, name_idx = dex.field_id(field_idx)
                key = field_cache[field_idx] = (dex.type_name(class_idx), dex.string(name_idx))
            if key in wanted:
                return True
    return False


def _inheritable(rules: Iterable[ApiRule]) -> dict[tuple[str, str], list[ApiRule]]:
    """(class descriptor, method name) -> the method rules naming it; constructors are not inherited."""
    named: dict[tuple[str, str], list[ApiRule]] = defaultdict(list)
    for rule in rules:
        if rule.method is not None and not rule.method.startswith("<"):
            named[(rule.class_descriptor, rule.method)].append(rule)
    return named


def _inherited_targets(index: CodeIndex, dex_i: int, named: dict, exact: dict) -> dict[int, list[tuple]]:
    """method_idx -> [(rule, api)] for the references of one dex that name a class of the app but reach a rule's
    method by inheritance: d8 names the receiver's static type, so `this.managedQuery(..)` in an Activity
    subclass is `Lcom/app/Main;->managedQuery`. api: the method the rule names (rule class, same name and proto).
    Only the references named like a rule are resolved (a search of method_ids per rule method name)."""
    dex = index.dexes[dex_i]
    names = {}
    for _cls, name in named:
        string_idx = dex.find_string(name)
        if string_idx is not None:
            names[string_idx] = name
    out: dict[int, list[tuple]] = {}
    if not names or not dex.method_ids_size:
        return out
    # method_ids rows are (class u16, proto u16, name u32): find each wanted name's u32 at a row's offset 4
    # (bytes.find, C speed) rather than unpacking every row of the table in Python
    start, end = dex.method_ids_off, dex.method_ids_off + 8 * dex.method_ids_size
    data = dex.data
    for name_idx, name in names.items():
        needle = struct.pack("<I", name_idx)
        pos = data.find(needle, start + 4, end)
        while pos != -1:
            if (pos - start) % 8 != 4:
                pos = data.find(needle, pos + 1, end)
                continue
            method_idx = (pos - start) // 8
            pos = data.find(needle, pos + 8, end)
            if method_idx in exact:
                continue
            class_idx, proto_idx = struct.unpack_from("<HH", data, start + 8 * method_idx)
            class_desc = dex.type_name(class_idx)
            if not class_desc.startswith("L") or index.class_def(class_desc) is None:
                continue        # a platform or missing class: matched by its own name, if a rule names it
            proto = dex.proto_descriptor(proto_idx)
            reached = index.inherited_rules(class_desc, name, proto, named)
            if reached:
                out[method_idx] = [(rule, f"{rule.class_descriptor}->{name}{proto}") for rule in reached]
    return out


def _raw_sites(index: CodeIndex, rules: tuple[ApiRule, ...]) -> list[_RawSite]:
    out: dict[tuple[str, str, str], _RawSite] = {}
    named = _inheritable(rules)
    for dex_i, dex in enumerate(index.dexes):
        methods, fields = _targets(dex, rules)
        inherited = _inherited_targets(index, dex_i, named, methods)
        field_cache: dict = {}
        for hit in index.scan(dex_i, methods=[*methods, *inherited], fields=fields):
            if hit.kind == "method" and hit.index in inherited:
                matched = inherited[hit.index]
            elif hit.kind == "method":
                api = dex.method_descriptor(hit.index)
                matched = [(rule, api) for rule in methods[hit.index]]
            else:
                api = dex.field_descriptor(hit.index)
                matched = [(rule, api) for rule in fields[hit.index]]
            caller = None
            for rule, api in matched:
                if not _condition_met(dex, hit.caller, rule, field_cache):
                    continue
                caller = caller or index.method_ref(dex_i, hit.caller)
                if rule.not_in and caller.descriptor.startswith(rule.not_in):
                    continue
                out.setdefault((rule.id, api, caller.descriptor), _RawSite(rule, api, caller))
    return list(out.values())


def entry_class_descriptors(index: CodeIndex, component_classes: Iterable[str]) -> set[str]:
    """Manifest component/application classes and the app classes they extend, as descriptors."""
    out: set[str] = set()
    for name in component_classes:
        desc = name if name.startswith("L") and name.endswith(";") else class_descriptor(dotted(name))
        out.add(desc)
        out.update(a for a in index.ancestors(desc) if index.defines(a))
    return out


class _Tracer:
    """Wrapper attribution and reachability, answered together round by round: each round is one scan
    per dex for all open questions (callers of library wrappers, is-this-method-referenced, is-this-class
    instantiated), so a report costs 2-5 scans however many call sites it has."""

    def __init__(self, index: CodeIndex, actor_of, entry_classes: set[str], entrypoints: EntryPoints):
        self.index, self.actor_of = index, actor_of
        self.entry_classes, self.entrypoints = entry_classes, entrypoints
        self.attributed: dict[str, set[MethodRef]] = defaultdict(set)   # wrapper -> non-library callers
        self.callers: dict[str, list[MethodRef]] = defaultdict(list)     # library method followed -> its callers
        self.extra_callers: dict[str, list[MethodRef]] = {}
        self.reachable: set[str] = set()
        self._checked: set[str] = set()

    def _trivially_reachable(self, ref: MethodRef) -> bool:
        name = ref.name
        return name == "<clinit>" or (ref.class_descriptor in self.entry_classes
                                      and (name in self.entrypoints.lifecycle or name in self.entrypoints.callbacks))

    def run(self, wrappers: list[MethodRef], direct: list[MethodRef], extra: Iterable[str] = ()) -> None:
        """extra: method descriptors whose direct callers are wanted too (self.extra_callers), asked in the first
        round's scan rather than in one of their own."""
        extra = sorted(set(extra))
        frontier: dict[str, set[str]] = {w.descriptor: {w.descriptor} for w in wrappers}
        refs: dict[str, MethodRef] = {r.descriptor: r for r in [*wrappers, *direct]}
        reached: dict[str, set[str]] = {d: set(w) for d, w in frontier.items()}  # library node -> wrappers
        to_check = [*wrappers, *direct]
        for depth in range(MAX_WRAPPER_DEPTH + 1):
            if depth == MAX_WRAPPER_DEPTH:
                frontier = {}
            check = []
            for ref in to_check:
                if ref.descriptor in self._checked:
                    continue
                self._checked.add(ref.descriptor)
                if self._trivially_reachable(ref):
                    self.reachable.add(ref.descriptor)
                else:
                    check.append(ref)
            if not frontier and not check:
                break
            owners: dict[str, set[str]] = defaultdict(set)      # invoked descriptor -> methods it stands for
            for desc in sorted({*frontier, *(r.descriptor for r in check)}):
                owners[desc].add(desc)
                for alias in self.index.dispatch_aliases(refs[desc]):
                    owners[alias].add(desc)
            asked = extra if depth == 0 else []
            new_classes = {r.class_descriptor for r in check if r.name in self.entrypoints.callbacks}
            callers, creators = self.index.references([*owners, *asked], new_classes)
            for desc in asked:
                self.extra_callers[desc] = [r for r in callers.get(desc, ()) if r.descriptor != desc]
            found: dict[str, list[MethodRef]] = defaultdict(list)
            for alias, referrers in callers.items():
                for owner in owners.get(alias, ()):
                    found[owner].extend(r for r in referrers if r.descriptor != owner)
            callbacks = self.entrypoints.callbacks
            for ref in check:
                if found.get(ref.descriptor) or (ref.name in callbacks and creators.get(ref.class_descriptor)):
                    self.reachable.add(ref.descriptor)
            next_frontier: dict[str, set[str]] = defaultdict(set)
            to_check = []
            for node, origin in sorted(frontier.items()):
                for caller in found.get(node, ()):
                    self.callers[node].append(caller)
                    refs.setdefault(caller.descriptor, caller)
                    if self.actor_of(caller).kind is ActorKind.LIBRARY:
                        new = origin - reached.get(caller.descriptor, set())
                        if new:
                            reached.setdefault(caller.descriptor, set()).update(new)
                            next_frontier[caller.descriptor] |= new
                    else:
                        for wrapper in origin:
                            self.attributed[wrapper].add(caller)
                        to_check.append(caller)
            frontier = dict(next_frontier)


class _OwnEvidence:
    """Obfuscated code inside a catalogued library family that holds SDKs (R8's `zza` under
    com.google.android.gms.internal): the SDK its own code names, never the library by default (that would hide
    an SDK's call as a harmless support library's). Evidence, in order: the hosts in its string constants and the
    catalogued SDK classes it calls; then the methods that call the calling method, as the wrapper tracer
    found them (no extra scan), counting a caller that is itself renamed family code by that caller's own
    strings and calls, and following silent renamed callers up to MAX_WRAPPER_DEPTH; for a class still silent,
    the callers of any of its methods (a scan per dex and hop, up to MAX_EVIDENCE_HOPS; only apps with such
    code pay for it). One SDK ahead of the others decides; otherwise `unknown`, with the reason in its id."""

    def __init__(self, index: CodeIndex, catalogue: Catalogue, actor_of_class):
        self.index, self.catalogue, self.actor_of_class = index, catalogue, actor_of_class
        self._direct_votes: dict[str, Counter] = {}

    def _methods(self, dex_i: int, class_def: int) -> list[EncodedMethod]:
        """The methods with code of one class_def: the method table lists them class by class, in class_def
        order (DexFile._read_class_data), so two bisections find them."""
        table = self.index.dexes[dex_i].method_table()
        owners = table[3]
        start, end = bisect.bisect_left(owners, class_def), bisect.bisect_right(owners, class_def)
        return [EncodedMethod(table[0][i], table[1][i], table[2][i], owners[i]) for i in range(start, end)
                if table[2][i]]   # abstract and native methods have no code to read

    def _named_sdk(self, class_desc: str) -> Actor | None:
        actor = self.actor_of_class(class_desc)
        return actor if actor.kind is ActorKind.SDK and not (actor.id or "").startswith(UNIDENTIFIED) else None

    def in_family(self, class_desc: str) -> bool:
        return (self.actor_of_class(class_desc).kind is ActorKind.LIBRARY and obfuscated_class_name(class_desc)
                and self.catalogue.holds_sdks(class_desc))

    def _direct(self, ref: MethodRef) -> Counter:
        """Votes from the class's own code: hosts in its strings, catalogued SDK classes it calls."""
        cls = ref.class_descriptor
        votes = self._direct_votes.get(cls)
        if votes is not None:
            return votes
        votes = self._direct_votes[cls] = Counter()
        dex = self.index.dexes[ref.dex]
        for method in self._methods(ref.dex, ref.method.class_def):
            body = dex.body(method)
            for string_idx in body.strings:
                text = dex.string(string_idx) if string_idx < dex.string_ids_size else ""
                for host in string_hosts([text]) if "." in text and len(text) <= 2048 else ():
                    owner = actor_for_host(self.catalogue, host)
                    if owner is not None:
                        votes[owner] += 1
            for method_idx in set(body.invokes.values()):
                callee = self._named_sdk(dex.method_descriptor(method_idx).split("->", 1)[0])
                if callee is not None:
                    votes[callee] += 1
        return votes

    def _weigh(self, caller: MethodRef, votes: Counter) -> bool:
        """Count what a caller says; True when it says nothing but is silent renamed family code itself, whose
        own callers may speak for it."""
        named = self._named_sdk(caller.class_descriptor)
        if named is not None:
            votes[named] += 1
        elif self.in_family(caller.class_descriptor):
            own = self._direct(caller)
            votes.update(own)
            return not own
        return False

    def resolve(self, refs: list[tuple[MethodRef, Actor]], tracer: "_Tracer") -> dict[str, Actor]:
        """class descriptor -> actor, for the renamed family classes that make call sites, from the callers the
        wrapper tracer found (for each library method it followed, and for the silent classes' methods)."""
        callers = tracer.callers
        votes: dict[str, Counter] = {}
        libraries: dict[str, Actor] = {}
        for ref, library in refs:
            if ref.class_descriptor not in votes:
                votes[ref.class_descriptor] = Counter(self._direct(ref))
                libraries[ref.class_descriptor] = library
        for ref, _library in refs:
            cls = ref.class_descriptor
            if votes[cls] and not callers.get(ref.descriptor):
                continue
            frontier, seen = [ref.descriptor], {ref.descriptor}
            for _hop in range(MAX_WRAPPER_DEPTH):
                following = []
                for node in frontier:
                    for caller in callers.get(node, ()):
                        if caller.descriptor in seen or caller.class_descriptor == cls:
                            continue
                        seen.add(caller.descriptor)
                        if self._weigh(caller, votes[cls]):
                            following.append(caller.descriptor)
                frontier = following
        self._callers_of_class(refs, votes, tracer.extra_callers)
        return {cls: self._verdict(cls, counted, libraries[cls]) for cls, counted in votes.items()}

    def silent_methods(self, refs: Iterable[MethodRef]) -> list[str]:
        """The methods of the renamed family classes among `refs` whose own code names no SDK: whose callers
        the wrapper tracer is asked for in its first scan."""
        out: set[str] = set()
        for ref in refs:
            if not self._direct(ref):
                out.update(self._method_descriptors(ref))
        return sorted(out)

    def _method_descriptors(self, ref: MethodRef) -> list[str]:
        dex = self.index.dexes[ref.dex]
        return [dex.method_descriptor(m.method_idx) for m in self._methods(ref.dex, ref.method.class_def)]

    def _callers_of_class(self, refs: list[tuple[MethodRef, Actor]], votes: dict[str, Counter],
                          known: dict[str, list[MethodRef]]) -> None:
        """For classes still silent: the callers of any of their methods (`known`, from the tracer's first scan,
        where it has them), then of those callers' classes when they are silent renamed family code too (a scan
        of every dex per further hop, up to MAX_EVIDENCE_HOPS; only apps with such code pay for it)."""
        known = dict(known)
        pending: dict[str, dict[str, MethodRef]] = defaultdict(dict)   # silent class -> classes to ask about
        for ref, _library in refs:
            if not votes[ref.class_descriptor]:
                pending[ref.class_descriptor][ref.class_descriptor] = ref
        seen: dict[str, set[str]] = {cls: set(members) for cls, members in pending.items()}
        for _hop in range(MAX_EVIDENCE_HOPS):
            if not pending:
                return
            wanted: dict[str, set[str]] = defaultdict(set)      # method descriptor -> silent classes
            for cls, members in pending.items():
                for member in members.values():
                    for descriptor in self._method_descriptors(member):
                        wanted[descriptor].add(cls)
            missing = [d for d in wanted if d not in known]
            if missing:
                found, _ = self.index.references(missing)
                known.update({d: [r for r in found.get(d, ()) if r.descriptor != d] for d in missing})
            callers = {d: known[d] for d in wanted}
            following: dict[str, dict[str, MethodRef]] = defaultdict(dict)
            for descriptor, referrers in sorted(callers.items()):
                for cls in sorted(wanted[descriptor]):
                    for caller in referrers:
                        if caller.class_descriptor not in seen[cls] and self._weigh(caller, votes[cls]):
                            following[cls][caller.class_descriptor] = caller
            pending = {}
            for cls, members in following.items():
                if not votes[cls]:
                    seen[cls].update(members)
                    pending[cls] = members

    @staticmethod
    def _verdict(cls: str, votes: Counter, library: Actor) -> Actor:
        ranked = sorted(votes.items(), key=lambda item: (-item[1], order_key(item[0])))
        if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            return ranked[0][0]
        why = ("no SDK in its strings, its calls or its callers" if not ranked else
               "its evidence names " + " and ".join(sorted(str(a.id) for a, n in ranked if n == ranked[0][1])))
        return Actor(ActorKind.UNKNOWN, f"{package_of(cls)} (renamed code inside library {library.id}: {why})")


def find_call_sites(dexes: list[DexFile], rules: Iterable[ApiRule] | None = None,
                    catalogue: Catalogue | None = None, app_package: AppContext | str | None = None,
                    component_classes: Iterable[str] = (), entrypoints: EntryPoints | None = None,
                    stats: dict | None = None) -> list[CallSite]:
    """Every call site of a sensitive API (rules/apis.yaml) in these dexes, attributed and judged reachable.

    app_package: the app's package or, better, its AppContext (audit.attribution.app_context: first party from
    the manifest's components). component_classes: the manifest's application and component class names
    (dotted, as the manifest resolves them). stats, when given, receives timings and counters for the report and the benchmark.
    """
    started = time.perf_counter()
    rules = tuple(rules) if rules is not None else load_apis()
    catalogue = catalogue or load_catalogue()
    entrypoints = entrypoints or load_entrypoints()
    index = CodeIndex(dexes)
    app = AppContext.of(app_package)
    actors: dict[str, Actor] = {}

    def actor_of_class(cls: str) -> Actor:
        actor = actors.get(cls)
        if actor is None:
            actor = actors[cls] = catalogue.actor_for_class(cls, app)
        return actor

    def actor_of(ref: MethodRef) -> Actor:
        return actor_of_class(ref.class_descriptor)

    own_evidence = _OwnEvidence(index, catalogue, actor_of_class)

    raw = _raw_sites(index, rules)
    found_at = time.perf_counter()
    callers = {site.caller.descriptor: site.caller for site in raw}
    wrappers = [r for d, r in sorted(callers.items()) if actor_of(r).kind is ActorKind.LIBRARY]
    direct = [r for d, r in sorted(callers.items()) if actor_of(r).kind is not ActorKind.LIBRARY]
    tracer = _Tracer(index, actor_of, entry_class_descriptors(index, component_classes), entrypoints)
    tracer.run(wrappers, direct, own_evidence.silent_methods(
        r for r in wrappers if own_evidence.in_family(r.class_descriptor)))

    placements = []
    for site in raw:
        outer = tracer.attributed.get(site.caller.descriptor)
        placed = [(c, site.caller.descriptor) for c in sorted(outer, key=lambda r: r.descriptor)] if outer \
            else [(site.caller, None)]
        placements.extend((site, caller, via) for caller, via in placed)
    renamed = own_evidence.resolve([(caller, actor_of(caller)) for _site, caller, _via in placements
                                    if own_evidence.in_family(caller.class_descriptor)], tracer)
    sites: set[CallSite] = set()
    for site, caller, via in placements:
        actor = renamed.get(caller.class_descriptor) or actor_of(caller)
        sites.add(CallSite(data_type=site.rule.data_type, api=site.api, caller=caller.descriptor,
                           actor=actor, api_id=site.rule.id,
                           reachable=caller.descriptor in tracer.reachable, via=via))
    result = sorted(sites, key=order_key)
    if stats is not None:
        stats.update({"call_sites": len(result), "candidates": index.candidates, "confirmed": index.confirmed,
                      "scans": index.scans, "hierarchy_cut": index.hierarchy_cut,
                      "methods_walked": sum(len(d._bodies) for d in dexes),
                      "seconds_search": round(found_at - started, 4),
                      "seconds_total": round(time.perf_counter() - started, 4)})
    return with_paths(dexes, result, component_classes, entrypoints, stats)


# -- other facts the scan needs from the code -----------------------------------------------------------
def class_names(dexes: Iterable[DexFile]) -> list[str]:
    """Every class the dexes define, dotted (`com.foo.Bar$Inner`), first definition order, no repeats."""
    seen: dict[str, None] = {}
    for dex in dexes:
        for desc in dex.class_descriptors():
            seen.setdefault(dotted(desc), None)
    return list(seen)


_TLDS = ("com|net|org|io|co|app|dev|ai|me|info|biz|us|uk|de|fr|eu|es|it|nl|jp|cn|ru|in|br|tv|ly|gl|ms|gg|cc|"
         "xyz|cloud|mobi|ad|ads|online|site|tech|so|sh|to|fm|am|ca|au|kr|tw|pl|se|ch|at|be")
# Where a URL or a host name may lie in the string data. Two passes, each starting with a literal (`://`,
# `.`), which the regex engine finds many times faster than a set of first characters (h, w, .): the scheme
# before `://` is checked by hand. (The two kinds of match cannot overlap, so together they find what one
# alternation would.)
MAX_HOST_LENGTH = 253
_SCHEMES = (b"https", b"http", b"wss", b"ws")
_TLD_CANDIDATE = re.compile(rb"\.(?:" + _TLDS.encode() + rb")(?![A-Za-z0-9-])")
URL = re.compile(r"(?:https?|wss?)://([A-Za-z0-9.-]+)")
HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _TLDS + r")$")
# A bare string like `com.google.android.gms.ads` is a package name, not a host: reverse-DNS roots.
_PACKAGE_ROOTS = ("com.", "org.", "net.", "android.", "androidx.", "java.", "javax.", "kotlin.", "io.")


def string_constants(dexes: Iterable[DexFile]) -> list[str]:
    """String constants that contain a URL or are a bare host name, sorted, for SDK host detection.

    Found with one bytes-regex pass per dex over the file; each match is mapped back to the string it lies
    in (bisect over the string data offsets), so only those few strings are decoded. Linear in the string
    data: where a string ends is found once per string, not once per match (a long string holding a
    million `.com` would otherwise be rescanned a million times), and a long string is searched for URLs
    once (a host name is at most 253 characters, so only short strings can be one)."""
    out: set[str] = set()
    for dex in dexes:
        offsets, order = dex.string_offsets_sorted()
        if not offsets:
            continue
        data = dex.data
        last_end = data.find(b"\x00", offsets[-1] + 1)
        indices: set[int] = set()
        ends: dict[int, int] = {}
        for start in _candidate_starts(data, offsets[0], last_end if last_end > 0 else len(data)):
            i = bisect.bisect_right(offsets, start) - 1
            if i < 0:
                continue
            end = ends.get(i)
            if end is None:
                end = ends[i] = data.find(b"\x00", offsets[i] + 1)
            # the match must lie inside that string's bytes, not in whatever follows it
            if start < end:
                indices.add(order[i])
        for string_idx in indices:
            text = dex.string(string_idx)
            if URL.search(text) or (len(text) <= MAX_HOST_LENGTH and HOST.match(text)
                                    and not text.startswith(_PACKAGE_ROOTS)):
                out.add(text)
    return sorted(out)


def _candidate_starts(data: bytes, start: int, end: int) -> Iterator[int]:
    """Start offsets of `(https?|wss?)://` and of `.tld` (not followed by a name character) in data[start:end]."""
    pos = data.find(b"://", start, end)
    while pos != -1:
        for scheme in _SCHEMES:    # longest first: where `(?:https?|wss?)://` would begin
            if pos - len(scheme) >= start and data.startswith(scheme, pos - len(scheme)):
                yield pos - len(scheme)
                break
        pos = data.find(b"://", pos + 1, end)
    for match in _TLD_CANDIDATE.finditer(data, start, end):
        yield match.start()


def string_hosts(strings: Iterable[str]) -> list[str]:
    """Host names named by string_constants() output (URL hosts and bare hosts), lower-case, sorted."""
    hosts: set[str] = set()
    for text in strings:
        for match in URL.finditer(text):
            host = match.group(1).lower().strip(".")
            if "." in host:
                hosts.add(host)
        if len(text) <= MAX_HOST_LENGTH and HOST.match(text) and not text.startswith(_PACKAGE_ROOTS):
            hosts.add(text.lower())
    return sorted(hosts)
