"""Cost Anomaly Detection reads: the anomalies a monitor saw for one service."""

from __future__ import annotations

from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

SAGEMAKER = "Amazon SageMaker"


class AnomaliesUnavailable(Exception):
    """The monitor's anomalies could not be read; the message says why."""


def service_anomalies(
    ce: Any, monitor_arn: str, start: date, end: date, service: str = SAGEMAKER
) -> list[dict[str, Any]]:
    """Anomalies between two dates whose service (a SERVICE monitor's dimension, or a root cause) is `service`."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "MonitorArn": monitor_arn,
        "DateInterval": {"StartDate": start.isoformat(), "EndDate": end.isoformat()},
        "MaxResults": 100,
    }
    while True:
        try:
            answer = ce.get_anomalies(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise AnomaliesUnavailable(f"anomalies of {monitor_arn}: {exc}") from exc
        for anomaly in answer.get("Anomalies", []):
            causes = anomaly.get("RootCauses", [])
            if anomaly.get("DimensionValue") != service and not any(c.get("Service") == service for c in causes):
                continue
            impact = anomaly.get("Impact", {})
            found.append(
                {
                    "anomaly_id": anomaly["AnomalyId"],
                    "start": anomaly.get("AnomalyStartDate"),
                    "end": anomaly.get("AnomalyEndDate"),
                    "total_impact_usd": float(impact.get("TotalImpact", impact.get("MaxImpact", 0.0))),
                    "impact_pct": impact.get("TotalImpactPercentage"),
                    "usage_types": sorted({c["UsageType"] for c in causes if c.get("UsageType")}),
                }
            )
        token = answer.get("NextPageToken")
        if not token:
            return found
        kwargs["NextPageToken"] = token
