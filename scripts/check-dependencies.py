#!/usr/bin/env python3
"""One direction of dependency in Sources/Gateway: which folders use which (a folder uses another when one
of its files names a type declared at the top level of a file in the other), and, inside each folder,
which files use which. Prints the folder graph and any cycle, between folders or between one folder's
files; exits 1 on a cycle. Run by the test command."""
import os, re, sys, itertools
root = sys.argv[1] if len(sys.argv) > 1 else 'Sources/Gateway'
decl = re.compile(r'^(?:public |internal |private |fileprivate |final |indirect )*(?:struct|enum|class|protocol|actor|typealias)\s+(\w+)', re.M)
owner, texts = {}, {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.swift'):
            p = os.path.join(d, f)
            folder = os.path.relpath(d, root).split(os.sep)[0]
            text = open(p).read()
            texts[p] = (folder, re.sub(r'//.*', '', text))
            for name in decl.findall(text):
                owner.setdefault(name, folder)
uses = {}
for p, (folder, text) in texts.items():
    words = set(re.findall(r'\b[A-Z]\w+\b', text))
    for w in words:
        o = owner.get(w)
        if o and o != folder:
            uses.setdefault(folder, {}).setdefault(o, set()).add(f"{os.path.basename(p)}:{w}")
for f in sorted(uses):
    print(f"{f} -> {', '.join(sorted(uses[f]))}")
def cycles(graph):
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: found.append(comp)
    for v in list(graph):
        if v not in index: strong(v)
    return found

sccs = cycles({f: set(uses.get(f, {})) for f in set(owner.values()) | set(uses)})
# Inside a folder: a file uses another when it names a type declared there (extensions of a type live
# with it, so a file that only extends a type does not count as declaring it).
file_of = {}
for p, (folder, text) in texts.items():
    for name in decl.findall(text):
        file_of.setdefault(name, p)
file_cycles = []
for folder in sorted(set(owner.values())):
    files = [p for p, (f, _) in texts.items() if f == folder]
    graph = {}
    for p in files:
        words = set(re.findall(r'\b[A-Z]\w+\b', texts[p][1]))
        graph[p] = {file_of[w] for w in words if w in file_of and file_of[w] != p and texts[file_of[w]][0] == folder}
    for comp in cycles(graph):
        file_cycles.append(comp)
        print("CYCLE between files of " + folder + ":", ", ".join(sorted(os.path.basename(p) for p in comp)))
for comp in sccs:
    print("CYCLE between folders:", ", ".join(sorted(comp)))
    for a, b in itertools.permutations(comp, 2):
        if b in uses.get(a, {}): print(f"  {a} uses {b}: {', '.join(sorted(uses[a][b]))}")
sys.exit(1 if sccs or file_cycles else 0)
