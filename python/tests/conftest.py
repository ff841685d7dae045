"""Shared fixtures: the `overlin` command-line binary the Python results are
compared with, built from this checkout."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def overlin_bin() -> Path:
    """The CLI: $OVERLIN_BIN when set (scripts/test.sh sets it), otherwise
    built here with cargo (debug profile, as `cargo test` builds it)."""
    env = os.environ.get("OVERLIN_BIN")
    if env:
        return Path(env)
    subprocess.run(["cargo", "build", "-q", "-p", "overlin", "--bin", "overlin"], cwd=ROOT,
                   check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "overlin"
