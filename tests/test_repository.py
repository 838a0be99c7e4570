"""The repository carries what its tests need, and `make test` says what the machine lacks."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_no_test_reads_files_outside_the_repository() -> None:
    outside = re.compile(r"""\.parent\s*/\s*["']shared["']|["']\.\./shared""")
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "tests").rglob("*.py")
        if path != Path(__file__) and outside.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"tests reading outside the repository: {offenders}"


def test_make_test_prerequisites_name_what_is_missing_in_one_line_each() -> None:
    env = {
        **os.environ,
        # nothing listens on port 1: the script cannot start these, so it must say what to do
        "CODE2ASIN_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/postgres",
        "CODE2ASIN_TEST_REDIS_URL": "redis://127.0.0.1:1/15",
    }
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "test-prerequisites")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("make test: PostgreSQL must answer at postgresql://postgres@127.0.0.1:1/")
    assert lines[1].startswith("make test: Redis must answer at redis://127.0.0.1:1/15")
    assert len(lines) == 2


def test_make_test_prerequisites_pass_on_this_machine() -> None:
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "test-prerequisites")], capture_output=True, text=True, timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
