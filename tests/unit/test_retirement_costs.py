"""Hosting cost by endpoint purpose (issue 27 item 6): Cost Explorer's grouped answer as a report section."""

from __future__ import annotations

from datetime import date
from typing import Any

from mlgov.retirement_estate import DAILY_HOSTING, hosting_cost_answer
from mlgov_runtime.adapters.cost_explorer import weekly_purpose_costs
from mlgov_runtime.retirement.costs import NO_TAG, last_week, purpose_costs, render_lines

TODAY = date(2026, 12, 4)
START, END = last_week(TODAY)


def test_a_week_of_hosting_is_summed_by_purpose_and_other_sagemaker_usage_kept_apart() -> None:
    section = purpose_costs([hosting_cost_answer(START, END, DAILY_HOSTING)], "endpoint_purpose", START, END)
    assert (section["status"], section["period"]) == ("OK", {"start": "2026-11-27", "end": "2026-12-04"})
    assert section["hosting_by_purpose"] == {"active": 315.84, "retiring": 157.92, NO_TAG: 157.92}
    assert (section["hosting_total"], section["other_sagemaker"]) == (631.68, 67.9)
    assert section["estimated"] is True  # the last day is still moving
    assert any("no endpoint_purpose value" in w and "mlgov retire audit" in w for w in section["warnings"])
    [retiring] = [w for w in section["warnings"] if "endpoint_purpose=retiring" in w]
    # No endpoint name to fill in: the audit names each candidate with its own command.
    assert "names each candidate with its own `mlgov retire request --endpoint` command" in retiring
    assert "--endpoint E" not in retiring


def test_all_cost_under_no_tag_says_to_activate_the_cost_allocation_tag() -> None:
    answer = hosting_cost_answer(START, END, [("", "USE1-Host:ml.g4dn.2xlarge", 45.12)])
    section = purpose_costs([answer], "endpoint_purpose", START, END)
    assert section["status"] == "ALL_UNTAGGED"
    assert "activate endpoint_purpose as a cost allocation tag" in section["next_step"]
    assert "billing/home#/tags" in section["next_step"]
    assert any("activate" in line for line in render_lines(section))


class FakeCostExplorer:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def get_cost_and_usage(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_request_filters_sagemaker_groups_by_tag_and_usage_type_and_follows_pages() -> None:
    first = {**hosting_cost_answer(START, END, DAILY_HOSTING[:1]), "NextPageToken": "p2"}
    second = hosting_cost_answer(START, END, DAILY_HOSTING[1:2])
    ce = FakeCostExplorer(first, second)
    section = weekly_purpose_costs(ce, "endpoint_purpose", TODAY)
    assert section["hosting_by_purpose"] == {"active": 315.84, "retiring": 157.92}
    assert len(ce.calls) == 2 and ce.calls[1]["NextPageToken"] == "p2"
    call = ce.calls[0]
    assert call["Filter"] == {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon SageMaker"]}}
    assert call["GroupBy"] == [{"Type": "TAG", "Key": "endpoint_purpose"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    assert call["TimePeriod"] == {"Start": "2026-11-27", "End": "2026-12-04"}


def test_no_answer_is_unavailable_never_zero() -> None:
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetCostAndUsage")
    section = weekly_purpose_costs(FakeCostExplorer(denied), "endpoint_purpose", TODAY)
    assert section["status"] == "UNAVAILABLE"
    assert section["hosting_total"] is None and section["hosting_by_purpose"] is None
    assert "AccessDeniedException" in section["reason"] and "ce:GetCostAndUsage" in section["next_step"]


def test_an_answer_without_any_period_is_no_data_not_zero_cost() -> None:
    section = purpose_costs([{"ResultsByTime": [], "DimensionValueAttributes": []}], "endpoint_purpose", START, END)
    assert section["status"] == "UNAVAILABLE" and section["hosting_total"] is None
    assert "no data, not zero cost" in section["reason"]
