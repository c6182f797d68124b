"""The README's embedding snippet works as written (against the test's Redis)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_embedding_snippet_mounts_the_dashboard(redis_url: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Embedding in an existing Flask app", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    tasks, app = code.split("# app.py\n")
    (tmp_path / "readme_tasks.py").write_text(
        tasks.replace("redis://localhost:6379/0", redis_url))
    (tmp_path / "readme_app.py").write_text(app.replace("from tasks import", "from readme_tasks import"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import readme_app  # noqa: PLC0415 - the snippet, imported as the user would

        client = readme_app.app.test_client()
        response = client.get("/admin/queues/")
        assert response.status_code in (302, 401)  # mounted, and refuses anonymous visitors
        assert readme_app.app.extensions["jobboard"] is not None
        task = readme_app.huey.task()(lambda: None)
        assert task.huey.name == "emails"
    finally:
        for name in ("readme_app", "readme_tasks"):
            sys.modules.pop(name, None)
