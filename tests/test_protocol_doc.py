"""The wire catalogue (``server/wire.py``), the server's source and ``docs/protocol.md`` agree.

Three ways to drift, each a test: a message type or error code the page does not document; one the
catalogue lists that the server never sends or parses (left behind by a removal); one the server
sends or parses that the catalogue lacks. The source is read with :mod:`ast`, not run: what is sent
is every message class of ``server/wire_messages.py`` the server builds and ``error_reply``, every error code given to
``ProtocolError`` / ``error_reply``; what is parsed is every type compared with a message's type
and every key of a command table (a dict of ``self.method`` handlers).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from server import wire, wire_messages

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"


def _server_sources(root: Path = ROOT) -> dict[Path, ast.Module]:
    """The server's code that speaks the protocol: all of it but the catalogue itself and storage
    (whose records' field tables are not command tables)."""
    storage = root / "server" / "storage"
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path))
            for path in sorted((root / "server").rglob("*.py"))
            if path not in (root / "server" / "wire.py", root / "server" / "wire_messages.py")
            and storage not in path.parents}


def _strings(node: ast.AST) -> Iterator[str]:
    """The string literals an argument can be: a constant, either branch of ``a if c else b``,
    the items of a tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for item in node.elts:
            yield from _strings(item)


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _first_arg(call: ast.Call, keyword: str) -> ast.expr | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def sent_types(trees: Iterable[ast.Module]) -> set[str]:
    """Every message type the server builds: a class of ``server/wire_messages.py`` called
    (``Pong()``, ``wire_messages.Ok(...)``); ``error_reply`` is ``error``."""
    classes = {cls.__name__: cls.TYPE for group in wire_messages.MESSAGES.values() for cls in group}
    found: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _callee(node) in classes:
                found.add(classes[_callee(node)])
            elif isinstance(node, ast.Call) and _callee(node) == "error_reply":
                found.add("error")
    return found


def error_codes(trees: Iterable[ast.Module]) -> set[str]:
    """Every error code the server raises or sends: ``ProtocolError("code", ...)``, ``error_reply("code", ...)``."""
    found: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _callee(node) in ("ProtocolError", "error_reply"):
                arg = _first_arg(node, "code")
                found.update(_strings(arg) if arg is not None else ())
    return found


def _is_message_type(node: ast.expr) -> bool:
    """``type_`` or ``<something>.type``: a message's type, as dispatch code names it."""
    return (isinstance(node, ast.Name) and node.id == "type_") or (
        isinstance(node, ast.Attribute) and node.attr == "type")


def _command_table(node: ast.Dict) -> list[str]:
    """The keys of a ``{"name": self.handler, ...}`` table, or nothing for any other dict."""
    if node.keys and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys) and all(
            isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == "self"
            for v in node.values):
        return [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return []


def parsed_types(trees: Iterable[ast.Module]) -> set[str]:
    """Every message type the server dispatches on: compared with a message's type, a key of a
    command table, or one of the catalogue's own dispatch sets where the source uses it by name."""
    found: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and _is_message_type(node.left):
                for comparator in node.comparators:
                    found.update(_strings(comparator))
            elif isinstance(node, ast.Dict):
                found.update(_command_table(node))
            elif isinstance(node, ast.Name) and node.id in ("DEVICE_SETUP_TYPES", "DEVICE_FRAME_TYPES"):
                found.update(getattr(wire, node.id))
    return found


def documented(text: str) -> set[str]:
    """Every name the page writes as code (`name`) or as a message's type (``"type": "name"``)."""
    return set(re.findall(r"`([a-z_]+)`", text)) | set(re.findall(r'"type":\s*"([a-z_]+)"', text))


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start: end if end != -1 else len(text)]


def _missing(label: str, names: Iterable[str]) -> str:
    return f"{label}: {', '.join(sorted(names))}"


# -- the catalogue is whole ------------------------------------------------------------------------


def test_the_catalogue_s_role_tables_cover_its_types() -> None:
    assert set().union(*wire.RECEIVES.values()) == wire.OUTGOING_TYPES
    assert set().union(wire.AUTH_TYPES, *wire.SENDS.values()) == wire.INCOMING_TYPES
    assert wire.SENDS["therapist"] < wire.SENDS["admin"]
    assert wire.DEVICE_SETUP_TYPES | wire.DEVICE_FRAME_TYPES < wire.SENDS["device"]


def test_every_outgoing_type_has_its_message_class_and_reads_back() -> None:
    """One dataclass per outgoing type (two where a type has two shapes: ``welcome``, ``state``),
    and what the server puts on the wire reads back as the message it built."""
    assert set(wire_messages.MESSAGES) == wire.OUTGOING_TYPES
    samples: list[wire_messages.Outgoing] = [
        wire_messages.StationWelcome("headset", "station-1", 60.0),
        wire_messages.TherapistWelcome("therapist", {"id": 1}, 2, "node-a", "token", "2026-01-01T00:00:00+00:00", 9.5),
        wire_messages.IdleState("station-1"),
        wire_messages.GameState("station-1", 7, 3, ["headset"], {"phase": "trial", "feet": {}}),
        wire_messages.ErrorMessage("throttled", "slow down", {"retry_after_s": 1.0}),
        wire_messages.Ok({"mode": "calibrate"}),
        wire_messages.Account({"id": 1}),
        wire_messages.Account({"id": 1}, one_time_password="pw"),
        wire_messages.Difficulty("station-1", 7, 2, {}, {"level": 0.5, "values": {}}),
    ]
    for message in samples:
        data = message.wire(request_id=5)
        assert data["type"] == message.TYPE and data["v"] == wire.PROTOCOL_VERSION and data["id"] == 5
        assert wire_messages.read(data) == message
    state = wire_messages.GameState("s", 1, 0, ["headset"], {"phase": "trial"})
    assert state.wire()["phase"] == "trial"
    # the state's own ``wire`` (written out for speed) gives what the generic one gives
    assert state.wire() == wire_messages.Outgoing.wire(state)
    assert list(state.wire()) == list(wire_messages.Outgoing.wire(state))


def test_the_catalogue_lists_exactly_what_the_server_sends() -> None:
    sent = sent_types(_server_sources().values())
    assert not sent - wire.OUTGOING_TYPES, _missing("sent but not in server/wire.py", sent - wire.OUTGOING_TYPES)
    assert not wire.OUTGOING_TYPES - sent, _missing("in server/wire.py but never sent",
                                                    wire.OUTGOING_TYPES - sent)


def test_the_catalogue_lists_exactly_what_the_server_parses() -> None:
    parsed = parsed_types(_server_sources().values())
    assert not parsed - wire.INCOMING_TYPES, _missing("parsed but not in server/wire.py",
                                                      parsed - wire.INCOMING_TYPES)
    assert not wire.INCOMING_TYPES - parsed, _missing("in server/wire.py but never parsed",
                                                      wire.INCOMING_TYPES - parsed)


def test_the_command_tables_are_the_catalogue_s_therapist_and_admin_types() -> None:
    sources = _server_sources()
    tables = {path.name: {name for node in ast.walk(tree) if isinstance(node, ast.Dict)
                          for name in _command_table(node)} for path, tree in sources.items()}
    tables["therapist.py"] |= tables.pop("outcome_commands.py")  # the therapist's outcome commands, merged in
    for file, listed in (("therapist.py", wire.SENDS["therapist"]),
                         ("admin.py", wire.SENDS["admin"] - wire.SENDS["therapist"])):
        assert tables[file] == listed, _missing(f"server/{file}'s commands and server/wire.py differ in",
                                                tables[file] ^ listed)


def test_the_catalogue_lists_exactly_the_error_codes_the_server_uses() -> None:
    codes = error_codes(_server_sources().values())
    assert not codes - wire.ERROR_CODES, _missing("used but not in server/wire.py", codes - wire.ERROR_CODES)
    assert not wire.ERROR_CODES - codes, _missing("in server/wire.py but never used", wire.ERROR_CODES - codes)


# -- the page documents it -------------------------------------------------------------------------


def test_the_protocol_page_documents_every_message_type() -> None:
    names = documented(DOC.read_text(encoding="utf-8"))
    assert not wire.INCOMING_TYPES - names, _missing("incoming types docs/protocol.md does not document",
                                                     wire.INCOMING_TYPES - names)
    assert not wire.OUTGOING_TYPES - names, _missing("outgoing types docs/protocol.md does not document",
                                                     wire.OUTGOING_TYPES - names)


def test_the_protocol_page_s_error_table_names_every_error_code() -> None:
    errors = _section(DOC.read_text(encoding="utf-8"), "Errors")
    rows = {name for line in errors.splitlines() if line.startswith("| `")
            for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])}
    assert not wire.ERROR_CODES - rows, _missing("error codes missing from the Errors table of docs/protocol.md",
                                                 wire.ERROR_CODES - rows)
    assert not rows - wire.ERROR_CODES, _missing("error codes documented but not in server/wire.py",
                                                 rows - wire.ERROR_CODES)


# -- the scanner itself, on source written for it --------------------------------------------------


def test_the_scan_finds_literals_in_every_form_the_server_writes_them() -> None:
    tree = ast.parse('''
def f(self, type_, message, raw):
    if type_ == "foot": Pong().wire(1)
    elif message.type in ("ready", "pause"): wire_messages.Ok()
    raise ProtocolError("missing_field" if raw is None else "bad_field", "x")
    error_reply(code="revoked", message="y")
    table = {"ping": self.ping, "watch": self.watch}
    not_a_table = {"stop_game": 1}
    if type_ in DEVICE_FRAME_TYPES: pass
''')
    assert sent_types([tree]) == {"pong", "ok", "error"}
    assert error_codes([tree]) == {"missing_field", "bad_field", "revoked"}
    assert parsed_types([tree]) == {"foot", "ready", "pause", "ping", "watch"} | wire.DEVICE_FRAME_TYPES
    assert documented('A `tracker_setup` and {"type": "foot", "v": 1} but not plain ok.') == {"tracker_setup", "foot"}
