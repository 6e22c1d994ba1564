"""``noorm certify``: runs the suite, prints a per-clause table and a verdict, exit status."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from noorm.cli import build_parser, main
from noorm.conformance.clauses import CLAUSES
from noorm.conformance.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]


def noorm(*args: str, cwd: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environ}
    return subprocess.run(
        [sys.executable, "-m", "noorm", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_certify_prints_every_clause_and_a_verdict_matching_the_report(
    tmp_path: Path,
) -> None:
    report = tmp_path / "out" / "memory.json"
    run = noorm(
        "certify", "memory", "-v", "-k", "hierarchy or every_logical_type", "--report", str(report),
        cwd=tmp_path,
    )  # fmt: skip
    data = json.loads(report.read_text())
    lines = run.stdout.splitlines()
    table = {
        line.split()[0]: line.split()[1]
        for line in lines
        if line.split()[:1] in [[c] for c in CLAUSES]
    }
    assert table == {c: v["outcome"] for c, v in data["clauses"].items()}
    verdict = lines[-2] if lines[-1].startswith("report:") else lines[-1]
    assert data["clauses"]["SCH-1"]["outcome"] == "passed"
    assert data["certified"] is False  # a narrowed run certifies nothing
    assert run.returncode != 0 and verdict.startswith("NOT CERTIFIED: memory")


def test_certify_prints_progress_per_clause_group_and_one_verdict(tmp_path: Path) -> None:
    """Not pytest's summary ("N passed in ..."): a line per clause group, then one verdict."""
    run = noorm("certify", "memory", "-k", "ERR or BOOL or hierarchy", cwd=tmp_path)
    lines = run.stdout.splitlines()
    assert lines[0].startswith("noorm: certifying memory"), run.stdout
    assert re.search(r"^  ERR +1 clause +\d+ tests: \d+ passed$", run.stdout, re.M), run.stdout
    assert re.search(r"^  BOOL +1 clause +1 tests: 1 passed$", run.stdout, re.M), run.stdout
    assert not re.search(r"\d+ passed(, .*)? in [\d.]+s", run.stdout), run.stdout
    verdicts = [ln for ln in lines if "CERTIFIED" in ln]
    assert len(verdicts) == 1 and verdicts[0] == lines[-1]
    assert "SCH-1" not in run.stdout.split(lines[0])[1] or "not_run" in run.stdout


def test_certify_shows_each_failure_under_its_group(tmp_path: Path) -> None:
    factory = "tests.conformance.broken:loses_milliseconds"
    run = noorm("certify", "--factory", factory, "-q", "-k", "TS or time", cwd=ROOT)
    assert run.returncode == 1
    assert re.search(r"^  TS .*\d+ FAILED", run.stdout, re.M), run.stdout
    assert re.search(r"^ +FAILED noorm/conformance/test_\w+\.py::\w+.*: ", run.stdout, re.M)
    assert run.stdout.splitlines()[-1].startswith("NOT CERTIFIED: ")


def test_a_narrowed_run_is_never_certified(tmp_path: Path) -> None:
    run = noorm("certify", "sqlite", "-q", "-k", "hierarchy", cwd=tmp_path)
    assert run.returncode == 1
    assert "NOT CERTIFIED: sqlite" in run.stdout and "not run:" in run.stdout
    assert re.search(r"^ERR-1 +incomplete ", run.stdout, re.MULTILINE), run.stdout
    assert re.search(
        r"^  - \d+ test\(s\) not run: deselected \(-k 'hierarchy'\)$", run.stdout, re.M
    )


def test_narrowing_through_pytest_addopts_is_caught_too(tmp_path: Path) -> None:
    run = noorm("certify", "memory", "-q", cwd=tmp_path, PYTEST_ADDOPTS="-k hierarchy")
    assert run.returncode == 1
    assert "NOT CERTIFIED: memory" in run.stdout
    assert "not run: deselected (-k 'hierarchy')" in run.stdout


def test_a_custom_factory_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "myfactory.py").write_text(
        "from noorm.adapters.memory import MemoryAdapter\n\ndef make():\n    return MemoryAdapter()\n"
    )
    run = noorm("certify", "--factory", "myfactory:make", "-q", "-k", "hierarchy", cwd=tmp_path)
    assert re.search(r"^ERR-1 +incomplete ", run.stdout, re.MULTILINE), run.stdout + run.stderr


@pytest.mark.parametrize(
    "argv,message",
    [
        (["certify"], "name a TARGET"),
        (["certify", "nosuch"], "unknown target 'nosuch'"),
        (["certify", "sqlite", "--url", "x"], "sqlite takes no --url"),
        (["certify", "memory", "--factory", "a:b"], "either a TARGET or --factory"),
        (["certify", "--factory", "a:b", "--url", "x"], "--url is for built-in targets"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_parser_has_subcommands_and_knows_the_targets() -> None:
    parser = build_parser()
    help_text = parser.format_help()
    assert "certify" in help_text
    assert set(TARGETS) >= {"memory", "sqlite"}
    for target in TARGETS.values():
        assert ":" in target.factory


def test_version_names_the_package_the_spec_and_python(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import noorm
    from noorm.spec import SPEC_VERSION

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"no-orm {noorm.__version__} (spec {SPEC_VERSION}, Python 3.")


def test_a_server_target_without_a_url_needs_a_docker_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a URL, a server target is certified on a throwaway container when a Docker
    engine answers (the factory starts it); otherwise the error says what to give."""
    import noorm.adapters.servers as servers

    monkeypatch.delenv("NOORM_POSTGRES_URL", raising=False)
    monkeypatch.setattr(servers, "docker_engine", lambda: False)
    with pytest.raises(SystemExit) as exited:
        main(["certify", "postgres"])
    assert exited.value.code == 2
    assert "needs --url or the NOORM_POSTGRES_URL environment variable" in capsys.readouterr().err
    from noorm.cli import _factory, build_parser

    monkeypatch.setattr(servers, "docker_engine", lambda: True)
    args = build_parser().parse_args(["certify", "postgres"])
    assert _factory(args) == TARGETS["postgres"].factory
