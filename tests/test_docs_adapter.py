"""The adapter-author guide's SQL adapter, taken from docs/adapters.md as written, certifies.

An outsider writes an adapter from that page alone: its two code blocks (``TinyAdapter``
and ``CountingAdapter``) become a module, and ``noorm certify --factory`` must certify
it. A hook the page leaves out, or an example that drifted from the SQL layer, fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from noorm.kit import Store

from .adapters.support import DOCS, SCHEMA, doc

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "adapters.md"


def _blocks() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_guide_s_sql_adapter_certifies(tmp_path: Path) -> None:
    blocks = _blocks()
    tiny = [b for b in blocks if "class TinyAdapter(SQLAdapter" in b]
    counting = [b for b in blocks if "class CountingAdapter(TinyAdapter)" in b]
    assert len(tiny) == 1 and len(counting) == 1, "the guide's example blocks moved"
    module = tmp_path / "guide_adapter.py"
    module.write_text(
        tiny[0]
        + "\n"
        + counting[0]
        + "\n\nimport tempfile\n\n\ndef factory() -> CountingAdapter:\n"
        + "    return CountingAdapter(tempfile.mkdtemp() + '/guide.sqlite3')\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cli = [sys.executable, "-m", "noorm", "certify", "--factory", "guide_adapter:factory", "-q"]
    report = tmp_path / "report.json"
    done = subprocess.run(
        [*cli, "--report", str(report)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "CERTIFIED: tiny" in done.stdout
    # The program the guide shows really ran: a delete through CountingAdapter counts.
    sys.path.insert(0, str(tmp_path))
    try:
        import guide_adapter  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    adapter = guide_adapter.factory()
    store = Store(SCHEMA, adapter)
    store.bootstrap()
    store.insert_many(DOCS, [doc(n) for n in range(5)])
    assert store.delete(DOCS, key={"id": 2}) == 1
    assert adapter.left == 4
    adapter.close()
