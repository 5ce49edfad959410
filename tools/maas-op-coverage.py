#!/usr/bin/env python3
"""Count the MAAS API operations Ironpool serves, reproducibly.

    tools/maas-op-coverage.py MAAS_SRC [--url http://HOST:PORT/MAAS/ | --describe FILE]
                              [--anon] [--json]

MAAS_SRC is a checkout of github.com/canonical/maas: a work tree, or a bare
repository / git directory (read at $MAAS_REF, default HEAD). The MAAS side is read
statically (Python's `ast`, nothing of MAAS is imported or run):

* the handlers are the classes `src/maasserver/urls_api.py` wraps in a
  `*Resource(...)` (what MAAS actually serves), with `--anon` also the
  `anonymous = ...` handlers they name;
* each handler's operations follow MAAS's `OperationsHandlerType`
  (`src/maasserver/api/support.py`): every `@operation(idempotent=…,
  exported_as=…)` method defined on the class, plus those defined directly
  on its bases that the class does not set to None, plus the CRUD methods
  (read/create/update/delete -> GET/POST/PUT/DELETE) that resolve, through
  the class hierarchy, to something other than None (piston's BaseHandler
  defines all four, so a handler exports them unless it sets them to None).

An operation is (handler class name, HTTP method, op name or None for CRUD).
The Ironpool side is its `describe/` document: from a running region
(`--url`), a saved file (`--describe`), or, by default, a region this script
starts from $IRONPOOL_BIN (default target/debug/ironpool) on a free loopback
port with a throwaway data directory. Prints implemented/total, the missing
operations by handler, and Ironpool handlers MAAS does not have.
"""

import argparse
import ast
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CRUD = {"read": "GET", "create": "POST", "update": "PUT", "delete": "DELETE"}
EXTERNAL_BASES = {"BaseHandler", "AnonymousBaseHandler"}  # piston3: defines all four CRUD methods


class ClassInfo:
    def __init__(self, name, bases, module):
        self.name, self.bases, self.module = name, bases, module
        self.attrs = {}  # name -> ("none" | "func" | "other", export or None)
        self.anonymous = None


def base_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def operation_call_export(d, default_name):
    """(method, op) when `d` is the call `operation(idempotent=…, exported_as=…)`."""
    if not (isinstance(d, ast.Call) and base_name(d.func) == "operation"):
        return None
    kw = {k.arg: k.value for k in d.keywords}
    idem = kw.get("idempotent", d.args[0] if d.args else None)
    exported = kw.get("exported_as", d.args[1] if len(d.args) > 1 else None)
    idempotent = isinstance(idem, ast.Constant) and idem.value is True
    name = exported.value if isinstance(exported, ast.Constant) and exported.value else default_name
    return ("GET" if idempotent else "POST", name)


def operation_export(func):
    """(method, op) when `func` is decorated with @operation(...)."""
    for d in func.decorator_list:
        export = operation_call_export(d, func.name)
        if export:
            return export
    return None


class Source:
    """MAAS's files, from a work tree or (with `git show`) a bare repository."""

    def __init__(self, root):
        self.root = Path(root)
        self.bare = not (self.root / "src" / "maasserver").is_dir()
        self.ref = os.environ.get("MAAS_REF", "HEAD")

    def read(self, rel):
        if not self.bare:
            return (self.root / rel).read_text()
        return subprocess.run(["git", "--git-dir", str(self.root), "show", f"{self.ref}:{rel}"],
                              check=True, capture_output=True, text=True).stdout

    def list_py(self, rel_dir):
        if not self.bare:
            return sorted(str(p.relative_to(self.root)) for p in (self.root / rel_dir).glob("*.py"))
        out = subprocess.run(["git", "--git-dir", str(self.root), "ls-tree", "--name-only", f"{self.ref}:{rel_dir}"],
                             check=True, capture_output=True, text=True).stdout
        return sorted(f"{rel_dir}/{n}" for n in out.split() if n.endswith(".py"))


def parse_classes(src, api_dir):
    classes = {}
    for rel in src.list_py(api_dir):
        path = Path(rel)
        tree = ast.parse(src.read(rel), rel)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            ci = ClassInfo(node.name, [b for b in map(base_name, node.bases) if b], path.stem)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    ci.attrs[item.name] = ("func", operation_export(item))
                elif isinstance(item, ast.Assign):
                    is_none = isinstance(item.value, ast.Constant) and item.value.value is None
                    for t in item.targets:
                        if isinstance(t, ast.Name):
                            # `get = operation(idempotent=True, exported_as="get")(fn)`
                            export = None
                            if isinstance(item.value, ast.Call):
                                export = operation_call_export(item.value.func, t.id)
                            if export:
                                ci.attrs[t.id] = ("func", export)
                            else:
                                ci.attrs[t.id] = ("none" if is_none else "other", None)
                            if t.id == "anonymous" and isinstance(item.value, ast.Name):
                                ci.anonymous = item.value.id
            if node.name in classes:
                print(f"warning: class {node.name} defined twice; using {path.name}", file=sys.stderr)
            classes[node.name] = ci
    return classes


def mro(classes, name):
    """C3 linearisation over the classes we know (unknown bases are leaves)."""
    ci = classes.get(name)
    if ci is None:
        return [name]
    seqs = [mro(classes, b) for b in ci.bases] + [list(ci.bases)]
    out = [name]
    while any(seqs):
        for seq in seqs:
            if not seq:
                continue
            head = seq[0]
            if not any(head in s[1:] for s in seqs):
                break
        else:
            raise ValueError(f"inconsistent hierarchy for {name}")
        out.append(head)
        for s in seqs:
            if s and s[0] == head:
                s.pop(0)
    return out


def lookup(classes, name, attr):
    """What getattr(cls, attr) finds: the kind, or None when absent."""
    for c in mro(classes, name):
        ci = classes.get(c)
        if ci is not None and attr in ci.attrs:
            return ci.attrs[attr][0]
        if ci is None and c in EXTERNAL_BASES and attr in CRUD:
            return "func"
    return None


def exports(classes, name):
    ci = classes[name]
    ops = set()
    for b in ci.bases:  # MAAS: vars(base) of each direct base only
        bi = classes.get(b)
        if bi is None:
            continue
        for attr, (_kind, export) in bi.attrs.items():
            if export is not None and lookup(classes, name, attr) not in (None, "none"):
                ops.add(export)
    for attr, (_kind, export) in ci.attrs.items():
        if export is not None:
            ops.add(export)
    for method, http in CRUD.items():
        if lookup(classes, name, method) not in (None, "none"):
            ops.add((http, None))
    return ops


def registered_handlers(text):
    tree = ast.parse(text)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (base_name(node.func) or "").endswith("Resource") and node.args:
            n = base_name(node.args[0])
            if n and n not in names:
                names.append(n)
    return names


def maas_ops(root, anon):
    src = Source(root)
    api = "src/maasserver/api"
    classes = parse_classes(src, api)
    handlers = registered_handlers(src.read("src/maasserver/urls_api.py"))
    ops = {}
    for h in handlers:
        if h not in classes:
            print(f"warning: {h} is registered but not defined under {api}", file=sys.stderr)
            continue
        ops[h] = exports(classes, h)
        if anon:
            a = lookup_anon(classes, h)
            if a and a in classes:
                ops[a] = exports(classes, a)
    return ops


def lookup_anon(classes, name):
    for c in mro(classes, name):
        ci = classes.get(c)
        if ci is not None and ci.anonymous:
            return ci.anonymous
    return None


# --- Ironpool ------------------------------------------------------------------
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def describe_from_region(binary):
    tmp = tempfile.mkdtemp(prefix="maas-op-coverage-")
    env = dict(os.environ, IRONPOOL_DATA_DIR=tmp)
    for k in ("IRONPOOL_DATABASE_URL", "IRONPOOL_LISTEN", "IRONPOOL_CONFIG"):
        env.pop(k, None)
    port = free_port()
    log = open(os.path.join(tmp, "region.log"), "wb")
    proc = subprocess.Popen([binary, "region", "--listen", f"127.0.0.1:{port}"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/MAAS/api/2.0/describe/"
        for _ in range(600):
            if proc.poll() is not None:
                sys.exit(f"the region exited; see {tmp}/region.log")
            try:
                return json.load(urllib.request.urlopen(url, timeout=5))
            except OSError:
                time.sleep(0.1)
        sys.exit("the region did not answer describe/ within 60 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ironpool_ops(doc):
    """Handler name -> {(method, op)}, from both the authenticated and the
    anonymous side (MAAS registers VersionHandler, an anonymous handler)."""
    ops = {}
    for r in doc["resources"]:
        for h in (r.get("auth"), r.get("anon")):
            if not h:
                continue
            acts = ops.setdefault(h["name"], set())
            for a in h.get("actions", []):
                acts.add((a["method"], a.get("op")))
    return ops


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("maas_src", type=Path)
    ap.add_argument("--url", help="a running region's /MAAS/ URL")
    ap.add_argument("--describe", type=Path, help="a saved describe/ document")
    ap.add_argument("--anon", action="store_true", help="also count the anonymous handlers")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    maas = maas_ops(args.maas_src, args.anon)
    if args.describe:
        doc = json.loads(args.describe.read_text())
    elif args.url:
        doc = json.load(urllib.request.urlopen(args.url.rstrip("/") + "/api/2.0/describe/", timeout=30))
    else:
        root = Path(__file__).resolve().parent.parent
        binary = os.environ.get("IRONPOOL_BIN", str(root / "target" / "debug" / "ironpool"))
        doc = describe_from_region(binary)
    ours = ironpool_ops(doc)

    total = sum(len(v) for v in maas.values())
    missing = {h: sorted(ops - ours.get(h, set()), key=lambda o: (o[1] or "", o[0]))
               for h, ops in maas.items()}
    missing = {h: m for h, m in missing.items() if m}
    done = total - sum(len(m) for m in missing.values())
    extra_handlers = sorted(set(ours) - set(maas))
    extra_ops = {h: sorted(ours[h] - maas[h], key=lambda o: (o[1] or "", o[0]))
                 for h in ours if h in maas and ours[h] - maas[h]}
    if args.json:
        fmt = lambda ops: [f"{m} {o or '(crud)'}" for m, o in ops]  # noqa: E731
        print(json.dumps({"implemented": done, "total": total, "handlers": len(maas),
                          "missing": {h: fmt(m) for h, m in missing.items()},
                          "ironpool_only_handlers": extra_handlers,
                          "ironpool_only_ops": {h: fmt(m) for h, m in extra_ops.items()}}, indent=1))
        return
    print(f"MAAS handlers served (urls_api.py{' + anonymous' if args.anon else ''}): {len(maas)}")
    print(f"MAAS operations implemented by Ironpool: {done} of {total}")
    print(f"handlers with every operation: {len(maas) - len(missing)} of {len(maas)}")
    if missing:
        print("\nmissing (handler: METHOD op):")
        for h, m in sorted(missing.items()):
            whole = " (whole handler)" if h not in ours else ""
            print(f"  {h}{whole}: " + ", ".join(f"{meth} {op or '(crud)'}" for meth, op in m))
    if extra_handlers:
        print("\nIronpool handlers MAAS does not serve under that name: " + ", ".join(extra_handlers))
    if extra_ops:
        print("\nIronpool operations MAAS's handler does not have:")
        for h, m in sorted(extra_ops.items()):
            print(f"  {h}: " + ", ".join(f"{meth} {op or '(crud)'}" for meth, op in m))


if __name__ == "__main__":
    main()
