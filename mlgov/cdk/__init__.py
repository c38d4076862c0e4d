"""CDK building blocks for your own apps (needs aws-cdk-lib; the CLI never imports this package).

from mlgov.cdk import CampaignScaling, CampaignWindow, CapacityGuard
"""

try:
    import aws_cdk  # noqa: F401
except ModuleNotFoundError as exc:  # an install without the extra
    raise ModuleNotFoundError(f"mlgov.cdk needs {exc.name}: pip install 'mlgov[cdk]'", name=exc.name) from exc

from mlgov.cdk.campaign_scaling import CampaignScaling, CampaignScheduleError, CampaignWindow, plan_schedule
from mlgov.cdk.capacity_guard import CapacityGuard

__all__ = ["CampaignScaling", "CampaignScheduleError", "CampaignWindow", "CapacityGuard", "plan_schedule"]
