"""A call graph over the app's dex code, searched from the entry points: `reachable` means a path exists.

Nodes are the methods the dexes define. A breadth-first search starts at once from every root and walks a
method's instructions only when the search reaches it, so the shortest path from the nearest root to each
method is known (parent pointers) and code nothing reaches is never decoded. The search stops as soon as every
method it was asked about has been reached.

Roots: for each manifest component and the Application class (the system instantiates them; exported or not,
the app's own intents start them too), and the app classes they extend: `<init>`, `<clinit>` and every method
named in rules/entrypoints.yaml `lifecycle` or `callbacks`.

Edges out of a method M (every rule a line of data in rules/entrypoints.yaml or the Dalvik semantics):
- invoke-static / invoke-direct of a defined method: that method (or the one it inherits, up the superclasses);
- invoke-super: the first definition from the named class upwards;
- invoke-virtual / invoke-interface of C.m: the definition C inherits, plus every override of m in a class
  that descends from C (class-hierarchy analysis). When C is a framework type (Runnable, Handler ...), the
  overrides named as lifecycle/callbacks are left to the hand-off rule: they run on an object whose
  allocation must itself be reached, not on every implementation the app has;
- hand-offs: `new-instance K` of an app class with a framework ancestor (a Runnable, Thread, AsyncTask,
  Handler, listener, receiver, fragment ...) makes K's `lifecycle` / `callbacks` methods successors of M: the
  framework calls them back once M hands the object over (Thread.start, Executor.execute, requestLocationUpdates);
- class initialisation: new-instance of K, a static invoke or a static field read on K leads to K.<clinit>;
- reflection: M loads a class by a constant name (`reflection.class_lookup` with a const-string naming a
  defined class, or const-class) and either looks a method up by a constant name (`reflection.method_lookup`:
  edges to that class's methods of those names) or, without one, instantiates it (its constructors and its
  hand-off callbacks).
Not seen: native code, dynamically loaded code, names built at run time, intents between components (each
component is a root anyway), XML-declared callbacks (android:onClick) and fragments inflated from layouts.

Bounded and linear: the work (instructions walked + edges and dispatch candidates examined + class-hierarchy
steps) is counted against a budget proportional to the code size (WORK_PER_UNIT per code unit plus a
constant). A hostile dex (one name overridden by 65 536 classes, a 10 000-deep hierarchy) exhausts the budget
instead of the machine: the search stops, `partial` says so, and methods not reached stay `present`.
"""
from __future__ import annotations

import bisect
import dataclasses
import struct
import time
from array import array
from collections import deque
from typing import Iterable, NamedTuple

from ..catalogue import dotted
from .apis import EntryPoints, class_descriptor, load_entrypoints
from .dex import DexFile, INSN_UNITS, NO_INDEX, OP_CONST_STRING, OP_CONST_STRING_JUMBO, _as_u16, payload_units

_U32 = struct.Struct("<I")
_METHOD_ID = struct.Struct("<HHI")     # method_id_item: class_idx, proto_idx, name_idx
WORK_PER_UNIT = 16          # budget: work items per 16-bit code unit of the app (a real app uses 2-4)
WORK_BASE = 1_000_000
MAX_HIERARCHY = 200         # ancestors considered per class (as in callsites.py)
FEW_DEFINITIONS = 8         # up to this many definitions of a signature, overrides are found by direct checks
OBJECT = "Ljava/lang/Object;"

# Opcodes (Dalvik bytecode) the graph reads: invoke kinds (the polymorphic/custom ones are not followed).
_INVOKE_VIRTUAL = frozenset((0x6e, 0x72, 0x74, 0x78))       # virtual, interface (+ /range)
_INVOKE_SUPER = frozenset((0x6f, 0x75))
_INVOKE_DIRECT = frozenset((0x70, 0x76))
_INVOKE_STATIC = frozenset((0x71, 0x77))
VIRTUAL, SUPER, DIRECT, STATIC = 0, 1, 2, 3     # an invoke is one int: kind << 16 | method_idx
OP_NEW_INSTANCE = 0x22
OP_CONST_CLASS = 0x1c
# What the walk looks at, by opcode: 1-4 an invoke of kind 0-3, then the other references and payloads.
_NEW, _FIELD, _STRING, _JUMBO, _CLASS, _PAYLOAD = 5, 6, 7, 8, 9, 10
_CATEGORY = bytearray(256)
_CATEGORY[0] = _PAYLOAD     # nop, or the first unit of a switch / array payload
for _ops, _category in ((_INVOKE_VIRTUAL, VIRTUAL + 1), (_INVOKE_SUPER, SUPER + 1), (_INVOKE_DIRECT, DIRECT + 1),
                        (_INVOKE_STATIC, STATIC + 1), ((OP_NEW_INSTANCE,), _NEW), (range(0x60, 0x6e), _FIELD),
                        ((OP_CONST_STRING,), _STRING), ((OP_CONST_STRING_JUMBO,), _JUMBO),
                        ((OP_CONST_CLASS,), _CLASS)):
    for _op in _ops:
        _CATEGORY[_op] = _category


class _Code(NamedTuple):
    """What the graph needs from one method's instructions (a tuple: made once per method walked)."""

    invokes: Iterable[int]                 # kind << 16 | method_idx, first occurrence order, no repeats
    types: list[int]                       # new-instance type indices
    classes: list[int]                     # const-class type indices
    fields: list[int]                      # static field indices read or written
    strings: list[int]                     # const-string indices


# by opcode: the length in bytes of an instruction the graph does not read (0 for those it reads, and for nop /
# payloads): the walk skips most instructions with one table lookup
_SKIP_BYTES = tuple(0 if _CATEGORY[op] else 2 * INSN_UNITS[op] for op in range(256))


# the same, for the graph's own walk (CallGraph._successor_groups): strings and classes are read only from
# methods that call a reflection API, by walk_code
_SKIP_EDGES = tuple(0 if _CATEGORY[op] in (VIRTUAL + 1, SUPER + 1, DIRECT + 1, STATIC + 1, _NEW, _FIELD, _PAYLOAD)
                    else 2 * INSN_UNITS[op] for op in range(256))
# the opcode tables as tuples for the walks: indexing a tuple is a specialised bytecode, a bytearray's is not
_LENGTHS, _CATEGORIES = tuple(INSN_UNITS), tuple(_CATEGORY)


def walk_code(dex: DexFile, code_off: int) -> tuple[_Code, int]:
    """One method's references, at real instruction boundaries (payloads skipped by their own lengths, the
    same walk as DexFile.body), and the number of code units walked."""
    # the code_item header (insns_size at +12, code at +16): every method's was checked to lie inside the
    # file when the dex's code index was built (DexFile.code_area), so it is read here without a second check
    data = dex.data
    n = _U32.unpack_from(data, code_off + 12)[0]
    start = code_off + 16
    if start + 2 * n > dex.size:
        n = 0
    end = start + 2 * n
    invokes: dict[int, None] = {}
    types: list[int] = []
    classes: list[int] = []
    fields: list[int] = []
    strings: list[int] = []
    skip, lengths, categories = _SKIP_BYTES, _LENGTHS, _CATEGORIES
    # byte offsets into the file, little-endian units read from the bytes themselves (the opcode is the low
    # byte, the first of the two): no per-method copy or view
    p = start
    while p < end:
        op = data[p]
        step = skip[op]
        if step:         # most instructions: not read, skipped by length alone
            p += step
            continue
        category = categories[op]
        if category == _PAYLOAD:
            if data[p + 1]:
                units = _as_u16(memoryview(data)[start:end])
                p += 2 * payload_units(units, (p - start) // 2, n)
                continue
        elif p + 2 * lengths[op] > end:
            break    # a truncated last instruction: its operands are not there
        elif category < _NEW:
            invokes[(category - 1) << 16 | data[p + 2] | data[p + 3] << 8] = None
        elif category == _NEW:
            types.append(data[p + 2] | data[p + 3] << 8)
        elif category == _FIELD:
            fields.append(data[p + 2] | data[p + 3] << 8)
        elif category == _STRING:
            strings.append(data[p + 2] | data[p + 3] << 8)
        elif category == _JUMBO:
            strings.append(data[p + 2] | data[p + 3] << 8 | data[p + 4] << 16 | data[p + 5] << 24)
        else:
            classes.append(data[p + 2] | data[p + 3] << 8)
        p += 2 * lengths[op]
    return _Code(invokes.keys(), types, classes, fields, strings), n


class CallGraph:
    """Shortest call paths from the entry points to the methods asked about (Dalvik descriptors)."""

    def __init__(self, dexes: list[DexFile], entrypoints: EntryPoints | None = None, budget: int | None = None):
        self.dexes = dexes
        self.entrypoints = entrypoints or load_entrypoints()
        self._entry_names = self.entrypoints.lifecycle | self.entrypoints.callbacks
        self._base: list[int] = []          # node id = base[dex] + row of the dex's method table
        self._code_offs = array("I")        # by node: its code_item offset (0: abstract or native)
        total = 0
        for dex in dexes:
            self._base.append(total)
            total += len(dex.method_table()[0])
            self._code_offs.extend(dex.method_table()[2])
        # by node: its dex (None when there is one dex)
        self._node_dex = None if len(dexes) == 1 else array(
            "H", [i for i, dex in enumerate(dexes) for _ in range(len(dex.method_table()[0]))])
        self._row_of: list[dict[int, int] | None] = [None] * len(dexes)
        # every method_id_item of each dex, decoded in one C-level pass (the tables' bounds were checked on open)
        self._method_ids = [list(_METHOD_ID.iter_unpack(
            dex.data[dex.method_ids_off:dex.method_ids_off + 8 * dex.method_ids_size])) for dex in dexes]
        self._class_desc: list[list[str]] = [[dex.type_name(c.class_idx) for c in dex.class_defs] for dex in dexes]
        self._defined: dict[str, tuple[int, int]] = {}     # class descriptor -> (dex, class_def), first wins
        self._super: dict[str, str | None] = {}            # every defined class -> its superclass
        self._interfaces: dict[str, tuple[str, ...]] = {}  # -> its interfaces (one shared tuple per list)
        # classes some defined class extends or implements: only an invoke naming one of them can dispatch lower
        self._extended: set[str] = set()
        for dex_i, dex in enumerate(dexes):
            # a dex shares one interfaces list among the classes implementing the same interfaces: decoded once
            # per list, or 65 535 classes sharing a list of 65 535 interfaces would be four billion steps
            lists: dict[int, tuple[str, ...]] = {}
            for cdef, desc in zip(dex.class_defs, self._class_desc[dex_i]):
                if desc in self._defined:
                    continue
                self._defined[desc] = (dex_i, cdef.index)
                superclass = None if cdef.superclass_idx == NO_INDEX else dex.type_name(cdef.superclass_idx)
                self._super[desc] = superclass
                interfaces = lists.get(cdef.interfaces_off)
                if interfaces is None:
                    interfaces = lists[cdef.interfaces_off] = tuple(
                        dex.type_name(t) for t in dict.fromkeys(dex.type_list(cdef.interfaces_off)))
                    self._extended.update(interfaces)
                self._interfaces[desc] = interfaces
                if superclass:
                    self._extended.add(superclass)
        units = sum((end - start) // 2 for start, end in (dex.code_area() for dex in dexes))
        self.budget = budget if budget is not None else WORK_PER_UNIT * units + WORK_BASE
        self.work = 0
        self.hierarchy_cut = 0              # ancestor walks stopped at MAX_HIERARCHY classes
        self.partial: str | None = None
        self.visited = 0
        self.edges = 0
        self._signatures: dict | None = None
        self._init_idx: list[int | None] = []
        self._decoded: dict[tuple[int, int, int], tuple[str, str]] = {}
        self._name_ids: list[dict[str, int | None] | None] = [None] * len(dexes)
        self._entry_ids: list[frozenset[int]] = [frozenset()] * len(dexes)
        self._ancestors: dict[str, frozenset[str]] = {}
        self._below: dict = {}
        self._resolved: list[dict[int, tuple[int, ...]]] = [{} for _ in dexes]
        self._handoffs: dict[str, tuple[int, ...]] = {}
        self._clinit: dict[str, tuple[int, ...]] = {}           # class -> its <clinit>
        self._inits: dict[str, list[int]] = {}                  # class -> its constructors
        self._entry_methods: dict[str, list[int]] = {}          # class -> methods named lifecycle/callbacks
        self._entry_nodes: set[int] = set()
        self._reflection = [self._reflection_ids(d) for d in dexes]
        self._lookups = [class_lookup | method_lookup for class_lookup, method_lookup in self._reflection]
        self._field_owner: list[list[int] | None] = [None] * len(dexes)
        self.parent: dict[int, int] = {}

    # -- nodes ------------------------------------------------------------------------------------------
    def _rows(self, dex_i: int) -> dict[int, int]:
        """method_idx -> row of the dex's method table (built on first use)."""
        rows = self._row_of[dex_i]
        if rows is None:
            rows = self._row_of[dex_i] = {m: r for r, m in enumerate(self.dexes[dex_i].method_table()[0])}
        return rows

    def _node(self, dex_i: int, method_idx: int) -> int | None:
        row = self._rows(dex_i).get(method_idx)
        return None if row is None else self._base[dex_i] + row

    def _locate(self, node: int) -> tuple[int, int]:
        dex_i = bisect.bisect_right(self._base, node) - 1
        return dex_i, node - self._base[dex_i]

    def descriptor(self, node: int) -> str:
        dex_i, row = self._locate(node)
        dex = self.dexes[dex_i]
        return dex.method_descriptor(dex.method_table()[0][row])

    def node_of(self, descriptor: str) -> int | None:
        class_desc = descriptor.split("->", 1)[0]
        where = self._defined.get(class_desc)
        if where is None:
            return None
        dex_i = where[0]
        method_idx = self.dexes[dex_i].find_method(descriptor)
        return None if method_idx is None else self._node(dex_i, method_idx)

    def _class_rows(self, class_desc: str) -> range:
        where = self._defined.get(class_desc)
        if where is None:
            return range(0)
        dex_i, cdef = where
        owners = self.dexes[dex_i].method_table()[3]
        return range(self._base[dex_i] + bisect.bisect_left(owners, cdef),
                     self._base[dex_i] + bisect.bisect_right(owners, cdef))

    def _name(self, node: int) -> str:
        dex_i, row = self._locate(node)
        dex = self.dexes[dex_i]
        return dex.string(dex.method_id(dex.method_table()[0][row])[2])

    def _names(self, dex_i: int) -> dict[str, int | None]:
        """String indices of the method names the graph looks for (<init>, <clinit>, entry names) in a dex."""
        found = self._name_ids[dex_i]
        if found is None:
            dex = self.dexes[dex_i]
            wanted = ("<init>", "<clinit>", *sorted(self._entry_names))
            found = self._name_ids[dex_i] = {n: dex.find_string(n) for n in wanted}
            self._entry_ids[dex_i] = frozenset(found[n] for n in self._entry_names if found[n] is not None)
        return found

    # -- class hierarchy --------------------------------------------------------------------------------
    def ancestors(self, class_desc: str) -> frozenset[str]:
        """Superclasses and interfaces, transitively, as far as the app defines them (plus the first framework
        type of each line), at most MAX_HIERARCHY."""
        cached = self._ancestors.get(class_desc)
        if cached is not None:
            return cached
        out: list[str] = []       # also the queue (breadth first): out[position:] is still to visit
        seen = {class_desc}
        supers, interfaces = self._super, self._interfaces
        current, position = class_desc, 0
        while len(out) < MAX_HIERARCHY:
            superclass = supers.get(current)
            parents = interfaces.get(current, ())
            if superclass:
                parents = (superclass, *parents)
            for parent in parents:
                if parent not in seen:
                    if len(out) >= MAX_HIERARCHY:
                        self.hierarchy_cut += 1
                        break
                    seen.add(parent)
                    out.append(parent)
            if position >= len(out):
                break
            current = out[position]
            position += 1
        self.work += len(out) + 1
        result = self._ancestors[class_desc] = frozenset(out)
        return result

    def _signature(self, dex_i: int, name_idx: int, proto_idx: int):
        """A key equal for equal (name, proto) across the dexes: the two indices themselves when there is one
        dex (nothing decoded), else the decoded strings (decoded once per pair)."""
        if len(self.dexes) == 1:
            return name_idx << 16 | proto_idx
        key = (dex_i, name_idx, proto_idx)
        found = self._decoded.get(key)
        if found is None:
            dex = self.dexes[dex_i]
            found = self._decoded[key] = (dex.string(name_idx), dex.proto_descriptor(proto_idx))
        return found

    def _signature_index(self) -> dict:
        """signature -> {defining class: node}, over every defined method (first definition wins)."""
        if self._signatures is None:
            index: dict = {}
            for dex_i, dex in enumerate(self.dexes):
                idxs, _flags, _offs, owners = dex.method_table()
                descs, base, signature, ids = (self._class_desc[dex_i], self._base[dex_i], self._signature,
                                               self._method_ids[dex_i])
                names = self._names(dex_i)
                clinit, init, entry = names["<clinit>"], names["<init>"], self._entry_ids[dex_i]
                one_dex, defined = len(self.dexes) == 1, self._defined
                if one_dex:      # the common case, in list passes: (name, proto) keys, owners, then the few
                    named = [ids[method_idx] for method_idx in idxs]       # methods with a special name
                    for key, owner, node in zip([name_idx << 16 | proto_idx for _c, proto_idx, name_idx in named],
                                                [descs[cdef] for cdef in owners], range(base, base + len(idxs))):
                        by_owner = index.get(key)
                        if by_owner is None:
                            index[key] = {owner: node}
                        elif owner not in by_owner:
                            by_owner[owner] = node
                    special = {clinit, init, *entry} - {None}
                    for row in [row for row, ref in enumerate(named) if ref[2] in special]:
                        name_idx, owner = named[row][2], descs[owners[row]]
                        if name_idx == clinit:
                            self._clinit[owner] = (base + row,)
                        elif name_idx == init:
                            self._inits.setdefault(owner, []).append(base + row)
                        else:
                            self._entry_methods.setdefault(owner, []).append(base + row)
                            self._entry_nodes.add(base + row)
                    self.work += len(idxs)
                    continue
                for row, method_idx in enumerate(idxs):
                    _class, proto_idx, name_idx = ids[method_idx]
                    owner = descs[owners[row]]
                    if defined[owner][0] != dex_i:
                        continue     # a class defined again in a later dex: the first definition is the one
                    key = signature(dex_i, name_idx, proto_idx)
                    by_owner = index.get(key)
                    if by_owner is None:
                        index[key] = {owner: base + row}
                    elif owner not in by_owner:
                        by_owner[owner] = base + row
                    if name_idx == clinit:
                        self._clinit[owner] = (base + row,)
                    elif name_idx == init:
                        self._inits.setdefault(owner, []).append(base + row)
                    elif name_idx in entry:
                        self._entry_methods.setdefault(owner, []).append(base + row)
                        self._entry_nodes.add(base + row)
                self.work += len(idxs)
            self._signatures = index
            self._init_idx = [self._names(i)["<init>"] for i in range(len(self.dexes))]
        return self._signatures

    def _overrides(self, key) -> dict[str, list[int]]:
        """For one signature: ancestor class -> the definitions in classes below it (built once per
        signature: the sum of the defining classes' ancestor counts)."""
        cached = self._below.get(key)
        if cached is None:
            cached = self._below[key] = {}
            for owner, node in self._signature_index().get(key, {}).items():
                ancestors = self.ancestors(owner)
                for ancestor in ancestors:
                    cached.setdefault(ancestor, []).append(node)
                self.work += 1 + len(ancestors)
        return cached

    # -- edges ------------------------------------------------------------------------------------------
    def _resolve(self, dex_i: int, invoke: int) -> tuple[int, ...]:
        """The methods an invoke (kind << 16 | method_idx) may run, and the class initialiser it may trigger."""
        cache = self._resolved[dex_i]
        cached = cache.get(invoke)
        if cached is not None:
            return cached
        kind, method_idx = invoke >> 16, invoke & 0xFFFF
        dex = self.dexes[dex_i]
        if method_idx >= dex.method_ids_size:
            cache[invoke] = ()
            return ()
        class_idx, proto_idx, name_idx = self._method_ids[dex_i][method_idx]
        class_desc = dex._types.get(class_idx) or dex.type_name(class_idx)
        supers = self._super
        out: list[int] = []
        row = (self._row_of[dex_i] or self._rows(dex_i)).get(method_idx)
        if row is not None and (kind == STATIC or kind == DIRECT):
            out.append(self._base[dex_i] + row)
        else:
            key = name_idx << 16 | proto_idx if self._node_dex is None else self._signature(dex_i, name_idx, proto_idx)
            defs = self._signatures.get(key)
            if defs:
                if class_desc in supers:
                    owner = class_desc    # what the named class has or inherits, up the superclasses it defines
                    for steps in range(1, MAX_HIERARCHY + 1):
                        node = defs.get(owner)
                        if node is not None:
                            out.append(node)
                            break
                        owner = supers[owner]
                        if owner not in supers:
                            break
                    self.work += steps
                if kind == VIRTUAL and len(defs) > len(out) and class_desc in self._extended:
                    if len(defs) <= FEW_DEFINITIONS:              # overrides below the named class
                        self.work += len(defs)
                        below = [n for owner, n in defs.items()
                                 if n not in out and owner != class_desc and class_desc in self.ancestors(owner)]
                    else:
                        below = [n for n in self._overrides(key).get(class_desc, ()) if n not in out]
                    if class_desc not in supers:
                        # through a framework type (Runnable.run, Handler.handleMessage): a callback runs on an
                        # object someone instantiated, and the hand-off edge from that allocation says so; a
                        # class-hierarchy edge would make every Runnable in the app reachable from one r.run()
                        below = [n for n in below if n not in self._entry_nodes]
                    out += below
        if kind == STATIC or name_idx == self._init_idx[dex_i]:
            init = self._clinit.get(class_desc)
            if init and init[0] not in out:
                out.append(init[0])
        result = cache[invoke] = tuple(out)
        return result

    def class_init(self, class_desc: str) -> tuple[int, ...]:
        """K.<clinit>, when K is defined: runs before K's first static use or instance (the maps are built
        with the signature index, before any search)."""
        return self._clinit.get(class_desc, ())

    def handoffs(self, class_desc: str) -> tuple[int, ...]:
        """The framework calls these back once an instance of K is handed over: K's (and its app ancestors')
        methods named as lifecycle/callbacks, when K has a framework ancestor other than Object."""
        cached = self._handoffs.get(class_desc)
        if cached is None:
            out: list[int] = []
            ancestors, defined = self.ancestors(class_desc), self._super
            if any(c not in defined and c != OBJECT for c in ancestors):
                for owner in (class_desc, *sorted(ancestors)):
                    found = self._entry_methods.get(owner, ())
                    self.work += 1 + len(found)
                    out += found
            cached = self._handoffs[class_desc] = tuple(out)
        return cached

    def _reflection_ids(self, dex: DexFile) -> tuple[frozenset[int], frozenset[int]]:
        """method_ids of the class-lookup and method-lookup APIs (rules/entrypoints.yaml `reflection`)."""
        def ids(refs: Iterable[str]) -> frozenset[int]:
            out = set()
            for ref in refs:
                owner, _, name = ref.rpartition(".")
                out.update(dex.find_methods(class_descriptor(owner), name))
            # as the invoke keys walk_code gives (kind << 16 | method_idx), whatever the invoke kind
            return frozenset(kind << 16 | m for m in out for kind in (VIRTUAL, SUPER, DIRECT, STATIC))
        return ids(self.entrypoints.class_lookup), ids(self.entrypoints.method_lookup)

    def successors(self, node: int) -> list[int]:
        """In a fixed order: what the method's instructions call, then what they imply (hand-offs, class
        initialisers, reflection)."""
        self._signature_index()
        return [n for group in self._successor_groups(node, (set(), set(), set())) for n in group]

    def _successor_groups(self, node: int, expanded: tuple[set, set, set]) -> list[tuple[int, ...]]:
        """Successors grouped by what produced them (an invoke, a class instantiated or initialised). A group
        already in `expanded` (invokes as dex << 20 | key, classes instantiated, classes initialised) is
        skipped and the others are added to it: one search expands each group once, however many methods name
        the same invoke or class (n callers of a method with n overrides are 2n edges, not n*n), and BFS order
        keeps every first parent on a shortest path.

        The instructions are walked here as walk_code walks them (same boundaries, payloads, truncation), with
        each invoke expanded where it is met: this runs once per method the search reaches, and building
        walk_code's lists first would double its cost. Invokes come first in first-occurrence order, then the
        classes instantiated, then those initialised by a static field access, as walk_code orders them."""
        dex_i = self._node_dex[node] if self._node_dex is not None else 0
        code_off = self._code_offs[node]
        if not code_off:
            return []
        dex = self.dexes[dex_i]
        data = dex.data
        n = _U32.unpack_from(data, code_off + 12)[0]     # checked on open, as in walk_code
        start = code_off + 16
        if start + 2 * n > dex.size:
            n = 0
        end = start + 2 * n
        self.work += n
        out: list[tuple[int, ...]] = []
        invoked, instantiated, initialised = expanded
        cache, base_key, lookups = self._resolved[dex_i], dex_i << 20, self._lookups[dex_i]
        types: list[int] = []
        fields: list[int] = []
        reflective = False
        skip, lengths, categories = _SKIP_EDGES, _LENGTHS, _CATEGORIES
        p = start
        while p < end:
            op = data[p]
            step = skip[op]
            if step:         # most instructions: no edge, skipped by length alone
                p += step
                continue
            category = categories[op]
            if category == _PAYLOAD:
                if data[p + 1]:
                    p += 2 * payload_units(_as_u16(memoryview(data)[start:end]), (p - start) // 2, n)
                    continue
            elif p + 2 * lengths[op] > end:
                break    # a truncated last instruction: its operands are not there
            elif category < _NEW:
                invoke = (category - 1) << 16 | data[p + 2] | data[p + 3] << 8
                key = base_key | invoke
                if key not in invoked:
                    invoked.add(key)
                    group = cache.get(invoke)
                    out.append(self._resolve(dex_i, invoke) if group is None else group)
                if invoke in lookups:
                    reflective = True
            elif category == _NEW:
                types.append(data[p + 2] | data[p + 3] << 8)
            else:
                fields.append(data[p + 2] | data[p + 3] << 8)
            p += 2 * lengths[op]
        if types:
            names = dex._types
            for type_idx in types:
                if type_idx < dex.type_ids_size:
                    cls = names.get(type_idx) or dex.type_name(type_idx)
                    if cls not in instantiated:
                        instantiated.add(cls)
                        out.append(self.class_init(cls) + self.handoffs(cls))
        if fields:
            owners, names = self._field_classes(dex_i), dex._types
            for field_idx in fields:
                if field_idx < dex.field_ids_size:
                    owner = owners[field_idx]
                    cls = names.get(owner) or dex.type_name(owner)
                    if cls not in initialised:
                        initialised.add(cls)
                        out.append(self.class_init(cls))
        if reflective:       # rare: the strings and classes the method loads, from the full walk
            code, _units = walk_code(dex, code_off)
            out.append(tuple(self._reflective(dex, code, not self._reflection[dex_i][1].isdisjoint(code.invokes))))
        return out

    def _field_classes(self, dex_i: int) -> list[int]:
        """field_idx -> its class's type index, for the whole field_ids table of a dex (one C-level pass)."""
        found = self._field_owner[dex_i]
        if found is None:
            dex = self.dexes[dex_i]
            found = self._field_owner[dex_i] = [c for c, _type, _name in _METHOD_ID.iter_unpack(
                dex.data[dex.field_ids_off:dex.field_ids_off + 8 * dex.field_ids_size])]
        return found

    def _reflective(self, dex: DexFile, code: _Code, by_name: bool) -> list[int]:
        names = {dex.string(s) for s in code.strings if s < dex.string_ids_size}
        classes = {class_descriptor(n) for n in names if "." in n and not n.startswith(".")}
        classes |= {dex.type_name(t) for t in code.classes if t < dex.type_ids_size}
        out: list[int] = []
        for cls in sorted(c for c in classes if c in self._super):
            if by_name:
                out += (n for n in self._class_rows(cls) if self._name(n) in names)
            else:
                out += self._inits.get(cls, ())
                out += self.handoffs(cls)
            out += self.class_init(cls)
        self.work += len(names) + len(out)
        return out

    # -- roots and search -------------------------------------------------------------------------------
    def roots(self, entry_classes: Iterable[str]) -> list[int]:
        out: dict[int, None] = {}
        runner = self.entrypoints.test_runner and class_descriptor(self.entrypoints.test_runner)
        tests = False
        for name in sorted(set(entry_classes)):
            desc = name if name.startswith("L") and name.endswith(";") else class_descriptor(dotted(name))
            ancestors = self.ancestors(desc)
            tests = tests or (runner is not None and (desc == runner or runner in ancestors))
            for cls in [desc, *sorted(a for a in ancestors if a in self._super)]:
                for node in self._class_rows(cls):
                    method = self._name(node)
                    if method in self._entry_names or (cls == desc and method in ("<init>", "<clinit>")):
                        out.setdefault(node)
        if tests:
            for node in self._test_methods():
                out.setdefault(node)
        return list(out)

    def _test_methods(self) -> list[int]:
        """A test runner's roots: the methods carrying a test annotation (rules/entrypoints.yaml
        `instrumentation`), and the constructors of their classes (the runner instantiates each test class)."""
        annotations = [class_descriptor(a) for a in self.entrypoints.test_annotations]
        out: list[int] = []
        classes: dict[str, None] = {}
        for dex_i, dex in enumerate(self.dexes):
            for method_idx in dex.annotated_methods(annotations):
                node = self._node(dex_i, method_idx)
                if node is not None:        # defined here (an annotation on a method of this dex's classes)
                    out.append(node)
                    classes.setdefault(dex.type_name(dex.method_id(method_idx)[0]))
        for cls in classes:
            out += [node for node in self._class_rows(cls) if self._name(node) == "<init>"]
        self.work += len(out)
        return out

    def search(self, entry_classes: Iterable[str], targets: Iterable[int] | None = None) -> None:
        """Breadth-first from every root at once; stops early once every target is reached (targets None:
        the whole reachable graph)."""
        everything = targets is None
        remaining = set(targets or ())
        if not everything and not remaining:
            return
        queue: deque[int] = deque()
        self._signature_index()
        parent = self.parent
        expanded = (set(), set(), set())  # groups already expanded: their targets have their (shortest) parent
        popleft, append, discard = queue.popleft, queue.append, remaining.discard
        for root in self.roots(entry_classes):
            parent[root] = -1
            queue.append(root)
        remaining -= parent.keys()
        while queue and (remaining or everything):
            if self.work > self.budget:
                self.partial = (f"call graph: work limit {self.budget} reached after {self.visited} methods; "
                                f"call sites not reached stay `present`")
                return
            node = popleft()
            self.visited += 1
            groups = self._successor_groups(node, expanded)
            edges = 0
            for group in groups:
                edges += len(group)
                for succ in group:
                    if succ not in parent:
                        parent[succ] = node
                        append(succ)
                        discard(succ)
            self.edges += edges
            self.work += edges + len(groups)

    def path(self, node: int) -> tuple[str, ...]:
        """Entry method, ..., node (Dalvik descriptors); () when the search did not reach it."""
        if node not in self.parent:
            return ()
        chain = [node]
        while self.parent[chain[-1]] != -1 and len(chain) <= len(self.parent):
            chain.append(self.parent[chain[-1]])
        return tuple(self.descriptor(n) for n in reversed(chain))

    def stats(self) -> dict:
        return {"visited": self.visited, "edges": self.edges, "reached": len(self.parent), "work": self.work,
                "budget": self.budget, "partial": bool(self.partial), "hierarchy_cut": self.hierarchy_cut}


def call_paths(dexes: list[DexFile], entry_classes: Iterable[str], targets: Iterable[str],
               entrypoints: EntryPoints | None = None, budget: int | None = None) \
        -> tuple[dict[str, tuple[str, ...]], CallGraph]:
    """{target descriptor: shortest path from an entry point} for the targets a path reaches, and the graph
    (for its stats and `partial`)."""
    graph = CallGraph(dexes, entrypoints=entrypoints, budget=budget)
    nodes = {}
    for desc in sorted(set(targets)):
        node = graph.node_of(desc)
        if node is not None:
            nodes[desc] = node
    graph.search(entry_classes, nodes.values())
    return {desc: path for desc, node in nodes.items() if (path := graph.path(node))}, graph


def with_paths(dexes: list[DexFile], sites: list, entry_classes: Iterable[str],
               entrypoints: EntryPoints | None = None, stats: dict | None = None) -> list:
    """CallSites, each reachable exactly when the call graph finds a path to its caller, with that path;
    stats (when given) receives the graph's counters under `call_graph`, and `limit` if the budget was hit."""
    started = time.perf_counter()
    paths, graph = call_paths(dexes, entry_classes, {s.caller for s in sites}, entrypoints)
    out = [dataclasses.replace(s, reachable=bool(paths.get(s.caller)), path=paths.get(s.caller, ()))
           for s in sites]
    if stats is not None:
        stats["call_graph"] = {**graph.stats(), "seconds": round(time.perf_counter() - started, 4)}
        limits = [graph.partial] if graph.partial else []
        if graph.hierarchy_cut:
            limits.append(f"call graph: limit MAX_HIERARCHY: {graph.hierarchy_cut} class-hierarchy walk(s) stopped "
                          f"at {MAX_HIERARCHY} classes; dispatch through the classes beyond was not followed")
        if limits:
            stats["call_graph"]["limit"] = "; ".join(limits)
    return out
