"""On-demand hourly list prices of SageMaker real-time inference instances (SOURCE); docs/retirement.md says how
they are used and overridden."""

from __future__ import annotations

SOURCE = "https://aws.amazon.com/sagemaker/pricing/ (real-time inference, us-east-1, on-demand, 2025)"
HOURS_PER_MONTH = 730  # 365 x 24 / 12, as AWS's own calculator uses

HOURLY_USD: dict[str, float] = {
    "ml.t2.medium": 0.056,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.c5.large": 0.102,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.g4dn.xlarge": 0.736,
    "ml.g4dn.2xlarge": 0.94,
    "ml.g4dn.4xlarge": 1.505,
    "ml.g5.xlarge": 1.408,
    "ml.g5.2xlarge": 1.515,
    "ml.g5.4xlarge": 2.03,
    "ml.g5.12xlarge": 7.09,
}
