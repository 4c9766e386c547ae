"""The systemd units pass `systemd-analyze verify` with no warning, and stay hardened."""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

DEPLOY = pathlib.Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)")


def _local_copy(unit: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    # verify checks that ExecStart exists: point it at this checkout's console script.
    script = pathlib.Path(sys.executable).with_name("pyengine")
    text = unit.read_text().replace("/opt/pyengine/.venv/bin/pyengine", str(script))
    out = tmp_path / unit.name
    out.write_text(text)
    return out


def _verify(path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, "verify", "--man=no", str(path)], capture_output=True,
                          text=True, timeout=60)


def _complaints(result: subprocess.CompletedProcess, name: str) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if name in line]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
@needs_analyze
def test_unit_verifies_cleanly(unit, tmp_path):
    copy = _local_copy(unit, tmp_path)
    result = _verify(copy)
    if result.returncode != 0 and "Failed to" in result.stderr and unit.name not in result.stderr:
        pytest.skip(f"systemd-analyze cannot run in this container: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert _complaints(result, unit.name) == []


@needs_analyze
def test_verify_catches_a_misspelt_directive(tmp_path):
    # Proves the check above can fail: a typo is reported even though the exit code is 0.
    unit = DEPLOY / "systemd" / "pyengine.service"
    bad = _local_copy(unit, tmp_path)
    bad.write_text(bad.read_text().replace("WatchdogSec=", "WatchdgSec="))
    assert "Unknown key 'WatchdgSec'" in "\n".join(_complaints(_verify(bad), bad.name))


@needs_analyze
def test_security_exposure_is_low(tmp_path):
    copy = _local_copy(DEPLOY / "systemd" / "pyengine.service", tmp_path)
    result = subprocess.run([ANALYZE, "security", "--offline=yes", "--no-pager", str(copy)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    if match is None:
        pytest.skip(f"systemd-analyze security --offline is unavailable: {result.stderr.strip()}")
    assert float(match.group(1)) <= 2.0, result.stdout


def _directives(unit: pathlib.Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), value.strip())
    return out


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_has_the_required_settings(unit):
    d = _directives(unit)
    assert d["Type"] == "notify" and int(d["WatchdogSec"]) > 0
    assert d["Restart"] in {"on-failure", "always"}
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "CapabilityBoundingSet": "", "User": "pyengine"}.items():
        assert d[key] == value, key
    assert "/var/lib/pyengine" in d["ReadWritePaths"].split()
    assert d["EnvironmentFile"].startswith("/etc/pyengine/")
    assert int(d["LimitNOFILE"]) >= 4096 and d["MemoryMax"]


def test_env_template_holds_no_secret_values():
    env = (DEPLOY / "pyengine.env.example").read_text()
    names = []
    for line in env.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            names.append(key)
            if any(w in key for w in ("SECRET", "KEY", "TOKEN", "PASSWORD")):
                assert value in ("", "change-me") or value.startswith("arn:aws:"), key
    assert "BINANCE_API_KEY" in names


def test_iam_policy_is_least_privilege():
    import json
    policy = json.loads((DEPLOY / "iam-policy.json").read_text())
    actions = []
    for st in policy["Statement"]:
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        actions += acts
        assert st["Effect"] == "Allow"
        assert all("*" not in a for a in acts), acts            # no wildcard actions
        if st["Resource"] == "*":
            # only endpoint discovery, which AWS does not scope to a resource
            assert acts == ["timestream:DescribeEndpoints"]
    assert "secretsmanager:GetSecretValue" in actions and "timestream:WriteRecords" in actions
    assert not any(a.startswith(("iam:", "ec2:", "s3:")) for a in actions)
