"""AWS Timestream (LiveAnalytics) sink through boto3: ``WriteRecords`` in batches of up to
100 multi-measure records sharing their common attributes; throttling and server errors
are retried with backoff, rejected records are reported (they are never retried: the
service refuses them for good)."""
from __future__ import annotations

import decimal
import logging
import random
import time
from typing import Callable

from botocore.exceptions import ClientError

from pyengine.telemetry.metrics import Point

log = logging.getLogger("pyengine.telemetry.sinks.timestream")
MAX_RECORDS = 100
_RETRYABLE = {"ThrottlingException", "InternalServerException", "ServiceUnavailable",
              "ServiceUnavailableException", "RequestTimeout"}


def _measure(name: str, value: object) -> dict[str, str]:
    if isinstance(value, bool):
        return {"Name": name, "Value": "true" if value else "false", "Type": "BOOLEAN"}
    if isinstance(value, int):
        return {"Name": name, "Value": str(value), "Type": "BIGINT"}
    if isinstance(value, (float, decimal.Decimal)):
        return {"Name": name, "Value": repr(float(value)), "Type": "DOUBLE"}
    return {"Name": name, "Value": str(value), "Type": "VARCHAR"}


def to_record(p: Point) -> dict[str, object]:
    return {
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(p.tags.items()) if v != ""],
        "MeasureName": p.measurement,
        "MeasureValueType": "MULTI",
        "MeasureValues": [_measure(k, v) for k, v in p.fields.items()],
        "Time": str(p.ts_ns),
    }


class TimestreamSink:
    name = "timestream"
    max_batch = 1000

    def __init__(self, database: str, table: str, *, engine_id: str = "paper", client=None,
                 region: str | None = None, max_attempts: int = 5, backoff_s: float = 0.2,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if client is None:
            import boto3
            from botocore.config import Config
            # our own retry loop below; botocore's would double the attempts
            client = boto3.client("timestream-write", region_name=region,
                                  config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        self.client = client
        self.database = database
        self.table = table
        self.common = {"Dimensions": [{"Name": "engine", "Value": engine_id}], "TimeUnit": "NANOSECONDS"}
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.rejected: list[dict[str, object]] = []   # last batches' rejected records, for reports
        self.on_rejected: Callable[[list[dict[str, object]]], None] | None = None

    def write(self, points: list[Point]) -> None:
        records = [to_record(p) for p in points if p.fields]
        for start in range(0, len(records), MAX_RECORDS):
            self._write_batch(records[start:start + MAX_RECORDS])

    def _write_batch(self, records: list[dict[str, object]]) -> None:
        delay = self.backoff_s
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.client.write_records(DatabaseName=self.database, TableName=self.table,
                                          CommonAttributes=self.common, Records=records)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "RejectedRecordsException":
                    self._report_rejected(records, exc.response.get("RejectedRecords", []))
                    return
                if code not in _RETRYABLE or attempt == self.max_attempts:
                    raise
                log.info("timestream %s, retry %d/%d", code, attempt, self.max_attempts - 1)
                self._sleep(delay * (0.5 + random.random()))
                delay *= 2

    def _report_rejected(self, records: list[dict[str, object]], rejected: list[dict[str, object]]) -> None:
        report = []
        for r in rejected:
            idx = r.get("RecordIndex", -1)
            record = records[idx] if isinstance(idx, int) and 0 <= idx < len(records) else {}
            report.append({"index": idx, "reason": r.get("Reason", ""),
                           "measure": record.get("MeasureName"), "time": record.get("Time")})
        self.rejected = report
        log.warning("timestream rejected %d of %d records: %s", len(report), len(records),
                    "; ".join(f"#{r['index']} {r['measure']}: {r['reason']}" for r in report[:5]))
        if self.on_rejected is not None:
            self.on_rejected(report)

    def close(self) -> None:
        pass
