"""The units set MemoryDenyWriteExecute=yes: check the engine's code works under it.

Linux >= 6.3 has the same restriction as a prctl (PR_SET_MDWE), so the engine's modules are
imported and exercised in a child process with it switched on, as systemd would do."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import ctypes, errno, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
    if sys.argv[1] == "mdwe":
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            print("UNSUPPORTED", errno.errorcode.get(ctypes.get_errno()))
            sys.exit(0)
        try:                               # proof that the restriction is on
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            print("NOT ENFORCED")
            sys.exit(1)
        except (PermissionError, OSError):
            pass
    import importlib, pkgutil
    import pyengine
    failed = []
    for info in pkgutil.walk_packages(pyengine.__path__, "pyengine."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed.append(f"{info.name}: {type(exc).__name__}")
    for name in ("dsl", "risk"):
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}")
    # work that touches cffi, numpy, cryptography, orjson, trio and the recording reader
    import itertools, numpy, orjson, trio
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from pyengine import _core, bundled, recording
    Ed25519PrivateKey.generate().sign(b"payload")
    numpy.convolve(numpy.arange(1000.0), numpy.ones(10))
    n = sum(1 for _ in itertools.islice(recording.frames(bundled.BTCUSDT_FEED), 5000))
    trio.run(trio.sleep, 0)
    print(n, *failed, sep="\\n")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_engine_code_runs_with_memory_deny_write_execute():
    def child(mode):
        return subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True,
                              text=True, timeout=300)

    hardened = child("mdwe")
    if hardened.stdout.startswith("UNSUPPORTED"):
        pytest.skip(f"this kernel has no PR_SET_MDWE (Linux >= 6.3): {hardened.stdout.strip()}")
    plain = child("plain")
    assert hardened.returncode == 0, hardened.stdout + hardened.stderr
    assert hardened.stdout.splitlines()[0] == "5000"
    # Modules that fail to import even without the restriction are not its doing.
    assert hardened.stdout == plain.stdout, hardened.stdout
