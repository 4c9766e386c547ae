"""``pyengine run`` as a user runs it: paper trading to the end of the bundled data with
systemd notifications (READY, WATCHDOG, STOPPING) and exit 0; Ctrl-C stops cleanly with
exit 0, and a second Ctrl-C exits at once."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def start(tmp, *extra, env=None):
    return subprocess.Popen([sys.executable, "-m", "pyengine.cli", "run", "--state-dir", str(tmp),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, **(env or {})))


def wait_for(proc, text: bytes) -> bytes:
    seen = b""
    for line in proc.stdout:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"never printed {text!r}:\n{seen.decode()[-3000:]}")


def test_paper_run_to_the_end_of_data_with_sd_notify(tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    messages = []

    def read():          # drain at once: a unix datagram queue holds only a few messages
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except OSError:
                return

    threading.Thread(target=read, daemon=True).start()
    p = start(tmp_path / "state", "--speed", "200",
              env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "1000000"})
    out, _ = p.communicate(timeout=240)
    time.sleep(0.2)
    sock.close()
    text = out.decode()
    print(text[-1500:])
    assert p.returncode == 0, text[-3000:]
    assert "pyengine: dashboard http://127.0.0.1:" in text
    assert "stopped (end of data)" in text
    assert "data 100.0%" in text
    assert any(m.startswith("READY=1") for m in messages)
    assert "WATCHDOG=1" in messages and "STOPPING=1" in messages
    assert messages.index("STOPPING=1") > [i for i, m in enumerate(messages) if m.startswith("READY=1")][0]


def test_ctrl_c_stops_cleanly_and_a_second_one_at_once(tmp_path):
    p = start(tmp_path / "one", "--speed", "5")
    wait_for(p, b"pyengine: dashboard")
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out.decode()[-3000:]
    assert b"stopped (SIGINT)" in out

    p = start(tmp_path / "two", "--speed", "5")
    wait_for(p, b"pyengine: dashboard")
    p.send_signal(signal.SIGINT)
    time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    # 130: os._exit from the supervisor; -SIGINT: the signal arrived after the event loop
    # ended; 0: the first one had already finished everything
    assert p.returncode in (0, 128 + signal.SIGINT, -signal.SIGINT), out.decode()[-3000:]
