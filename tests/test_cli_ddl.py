"""``noorm ddl``: prints the bootstrap statements of a schema for a dialect."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from noorm.adapters.sqlite import SQLiteAdapter
from noorm.cli import main
from noorm.spec import schema_to_json

EXAMPLE = str(Path(__file__).parent.parent / "examples" / "hebo_gateway" / "models.py") + ":SCHEMA"


def test_sqlite_ddl_is_what_bootstrap_runs_and_it_executes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["ddl", EXAMPLE, "--dialect", "sqlite"]) == 0
    printed = capsys.readouterr().out
    from hebo_gateway.models import SCHEMA

    adapter = SQLiteAdapter(tmp_path / "a.sqlite3")
    expected = adapter.bootstrap(SCHEMA, dry_run=True)
    adapter.close()
    assert printed.splitlines() == [f"{s};" for s in expected]
    conn = sqlite3.connect(tmp_path / "b.sqlite3")
    conn.executescript(printed)
    conn.executescript(printed)  # idempotent
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"conversations", "conversation_items"}
    conn.close()


def test_ddl_reads_the_json_form(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from hebo_gateway.models import SCHEMA

    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema_to_json(SCHEMA)))
    assert main(["ddl", str(path), "--dialect", "sqlite"]) == 0
    assert 'CREATE TABLE IF NOT EXISTS "main"."conversation_items"' in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["nope.py:SCHEMA", "json:nothing_here", "no-colon"])
def test_bad_schema_arguments_are_usage_errors(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ddl", spec, "--dialect", "sqlite"])
    assert info.value.code == 2
    assert "noorm: error:" in capsys.readouterr().err


_WITHOUT_DRIVERS = """
import sys
for driver in ("psycopg", "psycopg_pool", "pymysql", "pymongo"):
    sys.modules[driver] = None  # importing it raises ImportError, as if not installed
from noorm.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "mariadb"])
def test_ddl_needs_no_driver(dialect: str) -> None:
    """The DDL a dialect prints is the same with or without the driver installed."""
    import subprocess
    import sys

    args = ["ddl", EXAMPLE, "--dialect", dialect]
    run = subprocess.run(
        [sys.executable, "-c", _WITHOUT_DRIVERS, *args], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "CREATE TABLE" in run.stdout
    with_drivers = subprocess.run(
        [sys.executable, "-m", "noorm", *args], capture_output=True, text=True, check=True
    )
    assert run.stdout == with_drivers.stdout


def test_an_adapter_without_its_driver_names_the_extra() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pymysql'] = None\n"
        "from noorm.adapters.mysql import MySQLDialect\n"  # the dialect still imports
        "from noorm.adapters.mysql import MySQLAdapter\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert "MySQLAdapter needs pymysql: pip install 'no-orm[mysql]'" in run.stderr
