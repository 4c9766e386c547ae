"""deploy/install.sh: shellcheck-clean, and idempotent when staged into a directory."""
from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

DEPLOY = pathlib.Path(__file__).resolve().parents[2] / "deploy"
SCRIPT = DEPLOY / "install.sh"


def test_bash_syntax():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install shellcheck)")
def test_shellcheck_clean():
    result = subprocess.run(["shellcheck", "--severity=style", str(SCRIPT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _stage(root: pathlib.Path, *extra: str) -> str:
    result = subprocess.run([str(SCRIPT), "--destdir", str(root), "--skip-build",
                             "--no-packages", *extra], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_staged_install_is_idempotent_and_keeps_operator_edits(tmp_path):
    first = _stage(tmp_path, "--collector", "2")
    etc = tmp_path / "etc" / "pyengine"
    assert "installed" in first
    for name in ("pyengine.env", "collect.env"):
        assert (etc / name).stat().st_mode & 0o777 == 0o640
    units = tmp_path / "etc" / "systemd" / "system"
    assert (units / "pyengine.service").read_text() == \
        (DEPLOY / "systemd" / "pyengine.service").read_text()
    assert (tmp_path / "opt" / "pyengine" / "csrc").is_dir()
    assert not list((tmp_path / "opt" / "pyengine").rglob("node_modules"))
    toml = (etc / "pyengine.toml")
    if (DEPLOY / "pyengine.example.toml").exists():
        assert '"../dsl/' not in toml.read_text()

    (etc / "pyengine.env").write_text("BINANCE_API_KEY=operator-value\n")
    second = _stage(tmp_path, "--collector", "2")
    assert "installed" not in second                  # nothing changed, nothing rewritten
    assert (etc / "pyengine.env").read_text() == "BINANCE_API_KEY=operator-value\n"


def test_unknown_option_is_refused(tmp_path):
    result = subprocess.run([str(SCRIPT), "--destdir", str(tmp_path), "--frobnicate"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr
