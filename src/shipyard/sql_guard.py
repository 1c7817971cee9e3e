"""The one way user SQL reaches DuckDB: parsed first, then run on a locked-down connection.

User text that is SQL (a data check's predicate, a feature view's ``sql``
source) is checked structurally before it runs:

- a **predicate** is exactly one expression: its parentheses balance inside
  the text itself (so ``x > 1) OR (1=1`` cannot close the clause it is put
  in), it has no comment and no ``;``, and it reads no table and runs no
  subquery or table function;
- a **source** is exactly one ``SELECT``: no other statement kind, no stacked
  statement, no table function (``read_text``, ``read_csv``, ``glob``, ...)
  and no table other than the ones it declares.

Whatever passes runs on a connection from :func:`connect`, which is the
boundary, not the checks: external access is off (no file, network, attach,
extension install or load), except for the exact files and folders the caller
entitles the query to read, and the configuration is locked so SQL cannot
undo any of it. In-memory Arrow data registered on the connection stays
readable; DuckDB may still spill to its own temporary folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import duckdb

GLOB_CHARACTERS = "*?[{"


def connect(
    readable: Iterable[str | Path] = (), *, temp_directory: str | Path | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read only ``readable`` (files, folders or globs).

    A glob entitles its folder (the part before the first glob character).
    """
    import duckdb

    files, folders = _entitled(readable)
    connection = duckdb.connect()
    try:
        if temp_directory is not None:
            connection.execute("SET temp_directory = ?", [str(temp_directory)])
        connection.execute("SET allowed_paths = ?", [sorted(files)])
        connection.execute("SET allowed_directories = ?", [sorted(folders)])
        connection.execute("SET autoinstall_known_extensions = false")
        connection.execute("SET autoload_known_extensions = false")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
    except BaseException:
        connection.close()
        raise
    return connection


def _entitled(readable: Iterable[str | Path]) -> tuple[set[str], set[str]]:
    files: set[str] = set()
    folders: set[str] = set()
    for item in readable:
        text = str(item)
        if any(ch in text for ch in GLOB_CHARACTERS):
            cut = min(text.index(ch) for ch in GLOB_CHARACTERS if ch in text)
            folders.add(
                str(Path(text[:cut]).parent if not text[:cut].endswith("/") else text[:cut])
            )
            continue
        path = Path(text).resolve()
        (folders if path.is_dir() else files).add(str(path))
    return files, {f.rstrip("/") + "/" for f in folders}


# -- predicates ----------------------------------------------------------------------------------


def check_predicate(text: object, what: str) -> str:
    """``text`` if it is one SQL expression over columns; InvalidInput naming what is wrong.

    >>> check_predicate("dep_delay IS NULL OR dep_delay < 1440", "check 'sane'")
    'dep_delay IS NULL OR dep_delay < 1440'
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"The predicate of {what} must be a non-empty SQL expression.")
    _balanced(text, what)
    statements = _parse(f"SELECT ({text})", what)
    select = _only_select(statements, what)
    if (
        select.get("from_table", {}).get("type") not in (None, "EMPTY")
        or len(select.get("select_list", [])) != 1
    ):
        raise InvalidInput(f"The predicate of {what} must be one expression, got {text!r}.")
    for node in _nodes(select):
        if node.get("class") == "SUBQUERY" or node.get("type") in _TABLE_NODES:
            raise InvalidInput(
                f"The predicate of {what} reads a table ({_describe(node)}); a predicate may "
                "only use the row's columns.",
                hint=_PREDICATE_HINT,
            )
    return text


_TABLE_NODES = ("TABLE_FUNCTION", "BASE_TABLE", "SUBQUERY", "JOIN")
_PREDICATE_HINT = (
    "Write one boolean expression over the columns, e.g. dep_delay IS NULL OR dep_delay < 1440."
)


def _balanced(text: str, what: str) -> None:
    """Refuse comments, ';' and parentheses that close outside the predicate's own text."""
    import duckdb

    tokens = duckdb.tokenize(text)
    depth = 0
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(text)
        piece = text[start:end]
        if kind == duckdb.token_type.comment:
            raise InvalidInput(f"The predicate of {what} has a comment; remove it.")
        if kind != duckdb.token_type.operator:
            continue
        if ";" in piece:
            raise InvalidInput(
                f"The predicate of {what} has ';': a predicate is one expression, not statements.",
                hint=_PREDICATE_HINT,
            )
        for ch in piece:
            depth += (ch == "(") - (ch == ")")
            if depth < 0:
                raise InvalidInput(
                    f"The predicate of {what} closes a parenthesis it did not open "
                    f"(at {text[: start + 1]!r}).",
                    hint=_PREDICATE_HINT,
                )
    if depth:
        raise InvalidInput(f"The predicate of {what} leaves {depth} parenthesis(es) open.")


# -- SELECT sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Select:
    """A checked SELECT: its text and the table names it reads."""

    sql: str
    tables: tuple[str, ...]


def check_select(text: object, what: str) -> Select:
    """``text`` if it is exactly one SELECT reading only plain table names.

    >>> check_select("SELECT origin, temp FROM weather", "view 'w'").tables
    ('weather',)
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"The SQL of {what} must be a non-empty SELECT.")
    import duckdb

    try:
        kinds = [s.type for s in duckdb.extract_statements(text)]
    except duckdb.Error as exc:
        raise InvalidInput(f"The SQL of {what} does not parse: {_first_line(exc)}") from None
    if len(kinds) != 1 or kinds[0] != duckdb.StatementType.SELECT:
        raise InvalidInput(
            f"The SQL of {what} must be exactly one SELECT statement, got "
            f"{', '.join(k.name for k in kinds) or 'none'}.",
            hint="Remove every other statement; a source only reads.",
        )
    select = _only_select(_parse(text, what), what)
    ctes: set[str] = set()
    tables: list[str] = []
    for node in _nodes(select):
        if isinstance(node.get("cte_map"), dict):
            ctes.update(str(e.get("key")) for e in node["cte_map"].get("map", []))
        if node.get("type") == "TABLE_FUNCTION":
            raise InvalidInput(
                f"The SQL of {what} calls the table function {_describe(node)}; sources read "
                "only the tables they declare.",
                hint="Declare the data under the source's 'tables' (a dataset or a Parquet path) "
                "and select from its name.",
            )
        if node.get("type") == "BASE_TABLE":
            if node.get("schema_name") or node.get("catalog_name"):
                raise InvalidInput(
                    f"The SQL of {what} reads {_describe(node)}: name a declared table only, "
                    "without a schema or catalog."
                )
            tables.append(str(node["table_name"]))
    return Select(text, tuple(dict.fromkeys(t for t in tables if t not in ctes)))


def source_relation(select: Select, tables: dict[str, str]) -> str:
    """A FROM item running ``select`` with each table name bound to a read of its file.

    ``tables`` maps a table name to a DuckDB FROM item (e.g. a ``read_parquet``
    call built by Shipyard, not by the user).
    """
    missing = [t for t in select.tables if t not in tables]
    if missing:
        raise InvalidInput(f"No data is declared for table(s) {', '.join(missing)}.")
    bound = ", ".join(f"{quote(name)} AS (SELECT * FROM {tables[name]})" for name in select.tables)
    inner = select.sql.strip().rstrip(";")
    return f"(WITH {bound} SELECT * FROM ({inner}))" if bound else f"(SELECT * FROM ({inner}))"


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# -- the parse tree ------------------------------------------------------------------------------


def _parse(sql: str, what: str) -> list[dict[str, Any]]:
    import duckdb

    connection = duckdb.connect()
    try:
        raw = connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    finally:
        connection.close()
    tree: dict[str, Any] = json.loads(raw[0]) if raw else {"error": True}
    if tree.get("error"):
        message = str(tree.get("error_message", "it does not parse"))
        raise InvalidInput(f"The SQL of {what} is not accepted: {message}.")
    statements: list[dict[str, Any]] = tree.get("statements", [])
    return statements


def _only_select(statements: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if len(statements) != 1 or statements[0].get("node", {}).get("type") != "SELECT_NODE":
        raise InvalidInput(f"The SQL of {what} must be exactly one plain SELECT.")
    node: dict[str, Any] = statements[0]["node"]
    return node


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object in the parse tree, depth first."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _describe(node: dict[str, Any]) -> str:
    if node.get("type") == "TABLE_FUNCTION":
        return repr(node.get("function", {}).get("function_name", "?"))
    if node.get("type") == "BASE_TABLE":
        parts = [node.get("catalog_name"), node.get("schema_name"), node.get("table_name")]
        return repr(".".join(p for p in parts if p))
    return "a subquery"


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
