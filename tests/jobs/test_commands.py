"""`hemma serve` and `hemma worker` refuse to run on PostgreSQL without HEMMA_SECRET_KEY:
processes on several machines share one audit chain and must key it alike."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hemma.cli import main as cli
from hemma.config import configure


@pytest.mark.parametrize("command", [["worker"], ["serve", "--no-worker"]])
def test_a_process_on_postgresql_needs_the_shared_secret_key(command, tmp_path):
    try:
        result = CliRunner().invoke(cli, command, env={
            # Nothing listens there: the command must stop before it connects.
            "HEMMA_DATABASE_URL": "postgresql+psycopg://hemma@127.0.0.1:9/hemma",
            "HEMMA_SECRET_KEY": "", "HEMMA_DATA_DIR": str(tmp_path)})
    finally:
        configure(None)
    assert result.exit_code == 1
    assert "set HEMMA_SECRET_KEY" in result.output
    assert not (tmp_path / "secret_key").exists()  # and none was made up
