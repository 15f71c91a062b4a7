"""The project's import graph: no cycles, and no backward imports across the data-flow layers.

Data flows device adapters -> games -> scoring -> storage/broadcast; a module may import from
upstream (the definitions it consumes) but never from downstream. Read from the source with
:mod:`ast`, not by importing, so a cycle the interpreter happens to survive is still found.

Every import statement is an edge wherever it stands: at module level, inside a function, and under
``if TYPE_CHECKING:`` (a type-only import still ties the two modules together; it hides a cycle
from the interpreter, it does not remove it). A submodule is not given an edge to its own
package's ``__init__`` (which Python runs first): re-exporting a package's contents from its
``__init__`` is how packages work, not a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("games", "scoring", "server", "clients")

# The server modules that clients may import: the shared wire protocol (its version, catalogue of
# message types and the server's messages), which imports nothing else of the project, so a client
# does not pull the server in.
SHARED_WITH_CLIENTS: frozenset[str] = frozenset({"server.wire", "server.wire_messages"})

# (importer, what it must not import, why). A name covers its submodules.
FORBIDDEN: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("games", ("scoring", "server", "clients"), "games consume input events and hand results on"),
    ("scoring", ("server", "clients"), "scoring reads results and recordings, never the transport"),
    ("server.adapters", ("scoring", "clients"), "device adapters are the input edge: only events leave them"),
    ("server.storage", ("clients",), "storage is the last stage: it keeps records, it does not speak to clients"),
)


def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of these packages: dotted name -> file (a package under its own name)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _project_module(name: str, known: Mapping[str, Path]) -> str | None:
    """The project module an imported name lives in (``a.b.C`` -> ``a.b``), or None (not ours)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The project modules that this module imports, from any import statement in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, ``level - 1`` levels up
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # ``from a import b``: the module a.b where b is one, else a itself
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(m for t in targets if (m := _project_module(t, known)) is not None)
    found.discard(name)
    return found


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    known = modules(root, packages)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (``a -> b -> ... -> a``) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules (~150)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: Mapping[str, set[str]]) -> list[str]:
    """A concrete cycle through a strongly connected group, for the failure message."""
    start = min(group)
    path, seen = [start], {start}
    while True:
        step = min(w for w in graph[path[-1]] if w in group)  # one exists: the group is connected
        if step in seen:
            return [*path[path.index(step):], step]
        path.append(step)
        seen.add(step)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def backward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """Every import that breaks a layer rule, as ``importer -> imported (why)``."""
    found = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            for layer, banned, why in FORBIDDEN:
                if _under(importer, layer) and any(_under(target, b) for b in banned):
                    found.append(f"{importer} -> {target} ({why})")
            if _under(importer, "server.adapters") and _under(target, "server") \
                    and not _under(target, "server.adapters"):
                found.append(f"{importer} -> {target} (device adapters only feed the server, they do not use it)")
            if _under(importer, "server.storage") and _under(target, "server") \
                    and not _under(target, "server.storage"):
                found.append(f"{importer} -> {target} (storage is the last stage: the server uses it, not the reverse)")
            if _under(importer, "clients") and _under(target, "server") and target not in SHARED_WITH_CLIENTS:
                found.append(f"{importer} -> {target} (clients speak the wire protocol, not the server's internals)")
    return found


# -- the project ---------------------------------------------------------------------------------


def test_the_walk_sees_every_kind_of_import() -> None:
    """The graph is the real one: module-level, ``from package import module`` and type-only
    imports all appear (so an empty cycle list means something)."""
    graph = import_graph()
    assert {"games", "scoring", "server", "clients"} <= {m.split(".")[0] for m in graph}
    assert len(graph) > 100
    assert "server.therapist" in graph["server.app"]  # from server.therapist import TherapistCommands
    assert "server.auth" in graph["server.therapist"]  # from server import auth
    assert "games.events" in graph["server.adapters.tracker"]
    assert "server.command_host" in graph["server.therapist"]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_backward_imports() -> None:
    found = backward_imports(import_graph())
    assert not found, "backward imports:\n" + "\n".join(found)


def test_what_clients_share_with_the_server_imports_nothing_of_the_project() -> None:
    """A shared module importing the server (or games, scoring) would pull it into every client."""
    graph = import_graph()
    assert {"clients.link", "clients.headset.network"} <= {m for m, imported in graph.items()
                                                           if "server.wire" in imported}
    assert "clients.link" in {m for m, imported in graph.items() if "server.wire_messages" in imported}
    found = {shared: sorted(graph[shared] - SHARED_WITH_CLIENTS) for shared in SHARED_WITH_CLIENTS
             if graph[shared] - SHARED_WITH_CLIENTS}
    assert not found, f"modules shared with clients import project modules: {found}"


# -- the checker itself, on packages written for it ------------------------------------------------


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_cycle_through_a_type_checking_import_is_found(tmp_path: Path) -> None:
    _write(tmp_path, {
        "server/__init__.py": "",
        "server/app.py": "from server.therapist import Commands\n",
        "server/therapist.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from server.app import App\n",
        "server/stations.py": "def later():\n    from server import play\n",
        "server/play.py": "from .stations import later\n",
        "server/leaf.py": "import server.app\n",
    })
    graph = import_graph(tmp_path, ["server"])
    assert sorted(map(sorted, map(set, cycles(graph)))) == [
        ["server.app", "server.therapist"], ["server.play", "server.stations"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_backward_imports_are_named(tmp_path: Path) -> None:
    _write(tmp_path, {
        "games/__init__.py": "",
        "games/events.py": "MarkerKey = tuple[str, str]\n",
        "games/rules.py": "from scoring.plan import suggest\n",
        "scoring/__init__.py": "",
        "scoring/plan.py": "from games.events import MarkerKey\ndef suggest(): ...\n",
        "server/__init__.py": "",
        "server/codec.py": "",
        "server/adapters/__init__.py": "",
        "server/adapters/tracker.py": "from scoring.plan import suggest\nfrom games.events import MarkerKey\n",
        "server/adapters/mat.py": "from server import codec\n",
        "server/storage/__init__.py": "",
        "server/storage/store.py": "from scoring.plan import suggest\nfrom server import codec\nfrom . import models\n",
        "server/storage/models.py": "",
        "clients/__init__.py": "",
        "clients/link.py": "import server.codec\nimport scoring.plan\n",
    })
    found = backward_imports(import_graph(tmp_path, ["games", "scoring", "server", "clients"]))
    assert [line.split(" (")[0] for line in found] == [
        "clients.link -> server.codec",
        "games.rules -> scoring.plan",
        "server.adapters.mat -> server.codec",
        "server.adapters.tracker -> scoring.plan",
        "server.storage.store -> server.codec",
    ]
