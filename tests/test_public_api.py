"""The public surface: names guarded, and `import shipyard` kept cheap."""

from __future__ import annotations

import subprocess
import sys

import shipyard
from shipyard.errors import ERRORS_BY_CODE, ShipyardError, error_from_dict

EXPECTED = {
    "AccessDenied",
    "AlreadyExists",
    "BackendUnavailable",
    "CodeVersion",
    "Conflict",
    "CorruptArtifact",
    "GateFailed",
    "IntegrityError",
    "InvalidConfig",
    "InvalidInput",
    "Lineage",
    "NotFound",
    "Ref",
    "Runtime",
    "SchemaOutOfDate",
    "Settings",
    "ShipyardError",
    "Unauthenticated",
    "Workspace",
    "__version__",
    "code_version",
    "connect",
    "hash_table",
    "load_settings",
    "new_build_id",
    "open_runtime",
    "seed_everything",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(shipyard.__all__) == EXPECTED
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None, name


def test_import_is_cheap() -> None:
    code = (
        "import sys, shipyard; heavy = ['sqlalchemy', 'pandas', 'pyarrow', 'numpy', 'sklearn',"
        " 'duckdb', 'dask', 'psycopg', 'fastapi', 'fsspec', 'alembic'];"
        " print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_error_has_a_status_an_exit_code_and_a_unique_code() -> None:
    assert len(ERRORS_BY_CODE) == len({cls.code for cls in ERRORS_BY_CODE.values()})
    for code, cls in ERRORS_BY_CODE.items():
        assert issubclass(cls, ShipyardError)
        assert 400 <= cls.http_status < 600 and cls.exit_code > 0
        error = cls("what went wrong", hint="how to fix it")
        rebuilt = error_from_dict(error.to_dict())
        assert type(rebuilt) is cls and rebuilt.code == code and rebuilt.hint == "how to fix it"
    assert shipyard.InvalidInput.http_status == 400
    assert shipyard.NotFound.http_status == 404
    assert shipyard.AccessDenied.http_status == 403


def test_unknown_codes_never_import_anything() -> None:
    error = error_from_dict({"error": "os.system", "message": "m"})
    assert type(error) is ShipyardError
