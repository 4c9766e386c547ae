"""Each sink against a real store where one can run locally (SQLite, Redis, InfluxDB 1.x
from Debian), a local HTTP server for the InfluxDB v2 API, and botocore's Stubber for
Timestream."""
from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import orjson
import pytest
import redis
from botocore.stub import Stubber

from pyengine.telemetry.metrics import Point
from pyengine.telemetry.sinks.influx import InfluxSink, line_protocol
from pyengine.telemetry.sinks.redis import RedisSink
from pyengine.telemetry.sinks.sqlite import SqliteSink
from pyengine.telemetry.sinks.timestream import TimestreamSink

T0 = 1_723_161_253_937_085_768


def sample_points(n: int = 3) -> list[Point]:
    pts = [Point("tick_to_order", {"symbol": "BTCUSDT"}, {"count": 120 + i, "p50": 14_000, "p99": 61_000,
                                                          "p999": 90_000, "max": 120_000, "mean": 15_500.5},
                 T0 + i * 1_000_000_000) for i in range(n)]
    pts.append(Point("orders_sent", {"symbol": "ETH USDT,x=y"}, {"value": 7, "rate": 0.5}, T0))
    pts.append(Point("alert", {"key": "sink-down:redis"}, {"severity": "WARNING", "title": 'say "hi"'}, T0))
    return pts


def test_sqlite_sink_round_trip(tmp_path):
    path = tmp_path / "t.sqlite"
    sink = SqliteSink(str(path))
    sink.write(sample_points())
    sink.write(sample_points(1))
    sink.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = conn.execute("SELECT ts_ns, tags, fields FROM metrics WHERE measurement='tick_to_order' "
                        "ORDER BY ts_ns").fetchall()
    assert [r[0] for r in rows] == [T0, T0, T0 + 1_000_000_000, T0 + 2_000_000_000]
    assert json.loads(rows[-1][1]) == {"symbol": "BTCUSDT"} and json.loads(rows[-1][2])["count"] == 122


# --- Redis ----------------------------------------------------------------------------------
def test_redis_sink_hashes_streams_and_pubsub(redis_url):
    sink = RedisSink(redis_url, engine_id="t1", stream_maxlen=50)
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(sink.channel)
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    for i in range(400):        # far more than the cap
        sink.write([Point("equity", {}, {"value": 10_000.0 + i}, T0 + i)])
    sink.write(sample_points())
    latest = client.hgetall(sink.latest_key)
    assert orjson.loads(latest[b"equity"]) == {"ts_ns": T0 + 399, "value": 10_399.0}
    assert orjson.loads(latest[b"tick_to_order{symbol=BTCUSDT}"])["count"] == 122
    # capped stream: XADD MAXLEN ~ trims to about the cap (approximate trimming keeps a bit more)
    length = client.xlen(sink.stream_prefix + "equity")
    assert 50 <= length < 400
    last = client.xrevrange(sink.stream_prefix + "equity", count=1)[0][1]
    assert last[b"value"] == b"10399.0"
    published = [m for m in iter(lambda: pubsub.get_message(timeout=1), None) if m["type"] == "message"]
    assert len(published) == 401
    assert orjson.loads(published[-1]["data"])[0]["m"] == "tick_to_order"
    sink.close()
    client.delete(sink.latest_key, sink.stream_prefix + "equity", sink.stream_prefix + "tick_to_order",
                  sink.stream_prefix + "orders_sent", sink.stream_prefix + "alert")


def test_redis_sink_acl_user(redis_url):
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "pyengine-tel", "on", ">s3cret-pass", "~pyengine:*",
                          "&pyengine:*", "+@write", "+@read", "+publish", "+ping")
    try:
        ok = RedisSink(redis_url, engine_id="acl", username="pyengine-tel", password="s3cret-pass")
        ok.write(sample_points(1))
        assert admin.hlen(ok.latest_key) == 3
        bad = RedisSink(redis_url, engine_id="acl", username="pyengine-tel", password="wrong")
        with pytest.raises(redis.AuthenticationError):
            bad.write(sample_points(1))
    finally:
        admin.execute_command("ACL", "DELUSER", "pyengine-tel")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_cluster_node(binary: str, workdir) -> tuple[subprocess.Popen, int] | None:
    port = _free_port()
    log = open(workdir / f"redis-{port}.log", "wb")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                             "--cluster-config-file", str(workdir / f"nodes-{port}.conf"), "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)], stdout=log, stderr=log)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            client.ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    return None     # e.g. the free port was taken meanwhile: try another


@pytest.fixture
def single_node_cluster(tmp_path):
    """A one-node Redis Cluster owning all 16384 slots: enough for RedisCluster to work."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    started = next((s for s in (_start_cluster_node(binary, tmp_path) for _ in range(3)) if s), None)
    if started is None:
        logs = "".join(p.read_text(errors="replace")[-500:] for p in tmp_path.glob("redis-*.log"))
        pytest.fail(f"redis-server --cluster-enabled did not start: {logs}")
    proc, port = started
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_sink_cluster_mode(single_node_cluster):
    sink = RedisSink(single_node_cluster, engine_id="c1", cluster=True)
    sink.write(sample_points())
    assert type(sink.client).__name__ == "RedisCluster"
    assert orjson.loads(sink.client.hget(sink.latest_key, "orders_sent{symbol=ETH USDT,x=y}"))["value"] == 7
    assert sink.client.xlen(sink.stream_prefix + "tick_to_order") == 3
    sink.close()


# --- InfluxDB ---------------------------------------------------------------------------------
def test_decimal_fields_are_numbers_everywhere(tmp_path):
    from decimal import Decimal

    from pyengine.telemetry.sinks.timestream import to_record

    p = Point("fill", {"symbol": "BTCUSDT"}, {"price": Decimal("61837.63"), "qty": Decimal("0.001")}, T0)
    assert line_protocol([p]).decode() == f"fill,symbol=BTCUSDT price=61837.63,qty=0.001 {T0}\n"
    assert to_record(p)["MeasureValues"][0] == {"Name": "price", "Value": "61837.63", "Type": "DOUBLE"}
    sink = SqliteSink(str(tmp_path / "d.sqlite"))
    sink.write([p])
    sink.close()
    row = sqlite3.connect(tmp_path / "d.sqlite").execute("SELECT fields FROM metrics").fetchone()
    assert json.loads(row[0]) == {"price": 61837.63, "qty": 0.001}


def test_line_protocol_escaping():
    text = line_protocol(sample_points(1)).decode()
    assert text.splitlines() == [
        f"tick_to_order,symbol=BTCUSDT count=120i,p50=14000i,p99=61000i,p999=90000i,max=120000i,mean=15500.5 {T0}",
        f"orders_sent,symbol=ETH\\ USDT\\,x\\=y value=7i,rate=0.5 {T0}",
        f'alert,key=sink-down:redis severity="WARNING",title="say \\"hi\\"" {T0}',
    ]


class _Recorder:
    def __init__(self, status: int = 204) -> None:
        self.requests: list[dict] = []
        self.status = status
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                url = urllib.parse.urlsplit(self.path)
                recorder.requests.append({"path": url.path, "query": dict(urllib.parse.parse_qsl(url.query)),
                                          "headers": dict(self.headers), "body": body.decode()})
                self.send_response(recorder.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_influx_v2_write_api():
    server = _Recorder()
    try:
        sink = InfluxSink(server.url, version=2, org="trading", bucket="pyengine", token="tok-abc123")
        sink.write(sample_points(2))
        req = server.requests[0]
        assert req["path"] == "/api/v2/write"
        assert req["query"] == {"org": "trading", "bucket": "pyengine", "precision": "ns"}
        assert req["headers"]["Authorization"] == "Token tok-abc123"
        assert req["body"] == line_protocol(sample_points(2)).decode()
        server.status = 401
        with pytest.raises(RuntimeError, match="HTTP 401"):
            sink.write(sample_points(1))
        sink.close()
    finally:
        server.close()


def test_influx_v1_write_api():
    server = _Recorder()
    try:
        sink = InfluxSink(server.url, version=1, database="telemetry", username="u", password="p")
        sink.write(sample_points(1))
        req = server.requests[0]
        assert req["path"] == "/write" and req["query"] == {"db": "telemetry", "precision": "n"}
        assert req["headers"]["Authorization"].startswith("Basic ")
        sink.close()
    finally:
        server.close()
    with pytest.raises(ValueError, match="org and bucket"):
        InfluxSink("http://127.0.0.1:1", version=2)
    with pytest.raises(ValueError, match="version"):
        InfluxSink("http://127.0.0.1:1", version=3)


@pytest.fixture
def real_influxdb(tmp_path):
    binary = shutil.which("influxd")
    if binary is None:
        pytest.skip("influxd not installed (apt-get install influxdb); the fake-server tests cover the protocol")
    http_port, rpc_port = _free_port(), _free_port()
    conf = tmp_path / "influxdb.conf"
    conf.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{tmp_path}/meta"
[data]
  dir = "{tmp_path}/data"
  wal-dir = "{tmp_path}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
""")
    proc = subprocess.Popen([binary, "-config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=0.5)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.skip("influxd did not start")
                time.sleep(0.1)
        urllib.request.urlopen(urllib.request.Request(
            f"{url}/query?q=" + urllib.parse.quote("CREATE DATABASE telemetry"), method="POST"))
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_influx_v1_against_real_influxdb(real_influxdb):
    sink = InfluxSink(real_influxdb, version=1, database="telemetry")
    sink.write(sample_points())
    sink.close()
    q = urllib.parse.urlencode({"db": "telemetry", "epoch": "ns",
                                "q": "SELECT count, p99 FROM tick_to_order WHERE symbol='BTCUSDT'"})
    series = json.load(urllib.request.urlopen(f"{real_influxdb}/query?{q}"))["results"][0]["series"][0]
    assert series["values"] == [[T0, 120, 61000], [T0 + 1_000_000_000, 121, 61000], [T0 + 2_000_000_000, 122, 61000]]
    q = urllib.parse.urlencode({"db": "telemetry", "q": "SHOW TAG VALUES FROM orders_sent WITH KEY = symbol"})
    values = json.load(urllib.request.urlopen(f"{real_influxdb}/query?{q}"))["results"][0]["series"][0]["values"]
    assert values == [["symbol", "ETH USDT,x=y"]]


# --- Timestream ---------------------------------------------------------------------------
@pytest.fixture
def ts_client():
    client = boto3.client("timestream-write", region_name="ap-northeast-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


OK = {"RecordsIngested": {"Total": 100, "MemoryStore": 100, "MagneticStore": 0}}


def test_timestream_batches_of_100_with_common_attributes(ts_client):
    client, stubber = ts_client
    points = [Point("equity", {"symbol": "BTCUSDT"}, {"value": 10_000.0 + i, "n": i}, T0 + i) for i in range(250)]
    for start, size in ((0, 100), (100, 100), (200, 50)):
        expected = {
            "DatabaseName": "pyengine", "TableName": "metrics",
            "CommonAttributes": {"Dimensions": [{"Name": "engine", "Value": "paper"}], "TimeUnit": "NANOSECONDS"},
            "Records": [{"Dimensions": [{"Name": "symbol", "Value": "BTCUSDT"}], "MeasureName": "equity",
                         "MeasureValueType": "MULTI",
                         "MeasureValues": [{"Name": "value", "Value": repr(10_000.0 + i), "Type": "DOUBLE"},
                                           {"Name": "n", "Value": str(i), "Type": "BIGINT"}],
                         "Time": str(T0 + i)} for i in range(start, start + size)],
        }
        stubber.add_response("write_records", OK, expected)
    TimestreamSink("pyengine", "metrics", client=client).write(points)


def test_timestream_retries_throttling_then_succeeds(ts_client):
    client, stubber = ts_client
    stubber.add_client_error("write_records", "ThrottlingException", "slow down", 429)
    stubber.add_client_error("write_records", "InternalServerException", "oops", 500)
    stubber.add_response("write_records", OK)
    sleeps = []
    TimestreamSink("pyengine", "metrics", client=client, sleep=sleeps.append, backoff_s=0.1).write(sample_points(1))
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.5


def test_timestream_gives_up_after_max_attempts_and_raises_other_errors(ts_client):
    client, stubber = ts_client
    for _ in range(3):
        stubber.add_client_error("write_records", "ThrottlingException", "slow down", 429)
    stubber.add_client_error("write_records", "AccessDeniedException", "no", 403)
    sink = TimestreamSink("pyengine", "metrics", client=client, max_attempts=3, sleep=lambda s: None)
    with pytest.raises(Exception, match="ThrottlingException"):
        sink.write(sample_points(1))
    with pytest.raises(Exception, match="AccessDenied"):
        sink.write(sample_points(1))


def test_timestream_rejected_records_are_reported_not_retried(ts_client):
    client, stubber = ts_client
    stubber.add_client_error(
        "write_records", "RejectedRecordsException", "One or more records have been rejected.", 419,
        modeled_fields={"RejectedRecords": [
            {"RecordIndex": 1, "Reason": "The record timestamp is outside the time range of the memory store."}]})
    reports = []
    sink = TimestreamSink("pyengine", "metrics", client=client, sleep=lambda s: None)
    sink.on_rejected = reports.append
    sink.write(sample_points(2))
    assert reports == [[{"index": 1, "reason": "The record timestamp is outside the time range of the memory store.",
                         "measure": "tick_to_order", "time": str(T0 + 1_000_000_000)}]]


def _self_signed(tmp_path) -> tuple[str, str]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_redis_sink_over_tls_with_acl_user(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                             "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert,
                             "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"rediss://127.0.0.1:{port}/0"
    try:
        admin = redis.Redis.from_url(url, ssl_ca_certs=cert)
        deadline = time.monotonic() + 10
        while True:
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("TLS redis-server did not start")
                time.sleep(0.05)
        admin.execute_command("ACL", "SETUSER", "tel", "on", ">tls-pass-123", "~*", "&*", "+@all")
        sink = RedisSink(url, engine_id="tls", username="tel", password="tls-pass-123", ssl_ca_certs=cert)
        sink.write(sample_points(1))
        assert admin.hlen(sink.latest_key) == 3
        sink.close()
        # plaintext to the TLS port fails: the URL scheme really selects TLS
        plain = RedisSink(f"redis://127.0.0.1:{port}/0", engine_id="tls", timeout_s=1)
        with pytest.raises(redis.ConnectionError):
            plain.write(sample_points(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
