"""What a function does with an edited `MLGOV_<CAP>_SETTINGS` (only the deployer may edit it, but see hole 1:
anyone who drives the stack is the deployer). Types and bounds are checked again at cold start, and so is the
cross-key rule synth applies to pipeline roles (on the protected path), with the same validator
(mlgov_runtime.core.model.protected_path_problem): an edit that makes every role a pipeline role fails the cold
start naming the key, so the provenance check never believes any role's registration. The other lists an act
believes are held the same way: the notifier's redrive roles (protected path) and the approvers (exact names)."""

from __future__ import annotations

import json

import pytest

from mlgov.ops.sent_settings import challenger_environment as environment
from mlgov.settings import Challenger, Thresholds, parse_settings
from mlgov.settings import SettingsError as SynthSettingsError
from mlgov_runtime.challenger.settings import Received, load_challenger_settings
from mlgov_runtime.core.env import SettingsError
from mlgov_runtime.core.model import received, received_environment, variable

ANY_ROLE = "arn:*:iam::*:role/*"
PROTECTED = "arn:*:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"


def test_synth_refuses_a_pipeline_role_off_the_protected_path() -> None:
    try:
        parse_settings({"guardrails": {"pipeline_role_arns": [ANY_ROLE]}})
    except (SynthSettingsError, ValueError) as exc:
        assert "pipeline_role_arns" in str(exc)
    else:  # pragma: no cover - the control fails loudly
        raise AssertionError("synth accepted a pipeline role off the protected path")


@pytest.mark.parametrize(
    "roles",
    [
        [ANY_ROLE],
        [PROTECTED, ANY_ROLE],  # one edited entry among good ones
        ["arn:*:iam::*:role/other/mlgov-protected/MlGovDeploymentPipeline*"],  # the path's name deeper down
    ],
)
def test_the_function_refuses_the_same_edit_at_cold_start_naming_the_key(roles: list[str]) -> None:
    edited = environment(Challenger(), Thresholds(), roles)
    with pytest.raises(SettingsError, match=r"'mlgov\.guardrails\.pipeline_role_arns': .*not on the protected path"):
        received(edited, Received)


def test_the_whole_cold_start_fails_not_only_the_model() -> None:
    env = {
        **environment(Challenger(), Thresholds(), [ANY_ROLE]),
        "CHALLENGER_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:mlgov-challenger",
        "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
        "FINDINGS_TABLE_NAME": "mlgov-findings",
        "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlgov-findings",
    }
    with pytest.raises(SettingsError, match="pipeline_role_arns"):
        load_challenger_settings(env)


def test_an_edited_protected_path_is_held_to_the_same_rule() -> None:
    sent = json.loads(environment(Challenger(), Thresholds(), [PROTECTED])[variable(Received)])
    sent["guardrails"]["protected_role_path"] = "/"  # no path at all: refused by its pattern, as at synth
    with pytest.raises(SettingsError, match="protected_role_path"):
        received({variable(Received): json.dumps(sent)}, Received)


def test_the_settings_synth_sends_load_cleanly() -> None:
    settings = parse_settings({})
    got = received(received_environment(settings, Received), Received)
    assert got.guardrails.pipeline_role_arns == [PROTECTED]
    assert got.guardrails.protected_role_path == settings.guardrails.protected_role_path


# The other lists an act believes: the notifier queue's redrive senders and the approvers.

REDRIVE_OFF_PATH = "arn:aws:iam::123456789012:role/Operators"  # a root-path name anyone with CreateRole may take


def test_synth_refuses_a_redrive_role_off_the_protected_path_naming_the_key_and_the_way_out() -> None:
    with pytest.raises(SynthSettingsError) as raised:
        parse_settings({"alert_routing": {"redrive_role_arns": [REDRIVE_OFF_PATH]}})
    message = str(raised.value)
    assert "alert_routing.redrive_role_arns" in message
    assert "not on the protected path /mlgov-protected/" in message
    assert "arn:aws:iam::123456789012:role/mlgov-protected/Operators" in message  # the way out, spelt out


def test_synth_holds_redrive_roles_to_an_edited_protected_path() -> None:
    parse_settings(
        {
            "guardrails": _guardrails_on("/ops-protected/"),
            "alert_routing": {"redrive_role_arns": ["arn:*:iam::*:role/ops-protected/Redrive*"]},
        }
    )
    with pytest.raises(SynthSettingsError, match=r"alert_routing\.redrive_role_arns"):
        parse_settings(
            {
                "guardrails": _guardrails_on("/ops-protected/"),
                "alert_routing": {"redrive_role_arns": ["arn:*:iam::*:role/mlgov-protected/Redrive*"]},
            }
        )


def _guardrails_on(path: str) -> dict[str, object]:
    """Every exempt role moved to `path` (synth refuses the defaults, which name /mlgov-protected/)."""
    defaults = parse_settings({}).guardrails
    moved: dict[str, object] = {"protected_role_path": path}
    for key in (
        "pipeline_role_arns",
        "approver_role_arns",
        "role_admin_arns",
        "break_glass_role_arns",
        "operator_role_arns",
        "metric_writer_role_arns",
        "catalog_writer_role_arns",
    ):
        moved[key] = [arn.replace("/mlgov-protected/", path) for arn in getattr(defaults, key)]
    return moved


@pytest.mark.parametrize(
    "roles",
    [
        [REDRIVE_OFF_PATH],
        ["arn:*:iam::*:role/mlgov-protected/*", "arn:*:iam::*:role/*"],  # one edited entry among good ones
        ["arn:*:iam::*:role/other/mlgov-protected/*"],  # the path's name deeper down
    ],
)
def test_the_notifier_refuses_an_edited_redrive_role_at_cold_start_naming_the_key(roles: list[str]) -> None:
    from mlgov_runtime.notifier.settings import Received as NotifierReceived
    from mlgov_runtime.notifier.settings import load_notifier_settings

    sent = json.loads(received_environment(parse_settings({}), NotifierReceived)[variable(NotifierReceived)])
    sent["alert_routing"]["redrive_role_arns"] = roles
    env = {
        variable(NotifierReceived): json.dumps(sent),
        "NOTIFIER_SECRET_NAME": "mlgov/notifier",
        "STATE_TABLE_NAME": "mlgov-delivery-state",
    }
    with pytest.raises(SettingsError, match=r"'mlgov\.alert_routing\.redrive_role_arns': .*not on the protected path"):
        load_notifier_settings(env)


def test_the_notifier_loads_the_redrive_roles_synth_sends() -> None:
    from mlgov_runtime.notifier.settings import Received as NotifierReceived

    got = received(received_environment(parse_settings({}), NotifierReceived), NotifierReceived)
    assert got.alert_routing.redrive_role_arns == ["arn:*:iam::*:role/mlgov-protected/*"]
    assert got.guardrails.protected_role_path == "/mlgov-protected/"


APPROVER_PATTERNS = [
    "arn:aws:sts::123456789012:assumed-role/Approver*/*",  # any role someone creates as ApproverX
    "arn:aws:sts::123456789012:assumed-role/*/*",  # every role of the account
    "arn:aws:iam::123456789012:user/*",  # every user
]


@pytest.mark.parametrize("principal", APPROVER_PATTERNS)
def test_synth_refuses_an_approver_pattern_in_the_role_or_user_name(principal: str) -> None:
    with pytest.raises(SynthSettingsError, match=r"approvals\.approvers.*pattern in its user or role name"):
        parse_settings({"approvals": {"approvers": {"retirement": [principal]}}})


@pytest.mark.parametrize("principal", APPROVER_PATTERNS)
def test_the_approval_service_refuses_the_same_edit_at_cold_start(principal: str) -> None:
    from mlgov_runtime.approvals.settings import Received as ApprovalsReceived

    sent = json.loads(received_environment(parse_settings({}), ApprovalsReceived)[variable(ApprovalsReceived)])
    sent["approvals"]["approvers"] = {"retirement": [principal]}
    with pytest.raises(SettingsError, match=r"'mlgov\.approvals\.approvers': .*pattern in its user or role name"):
        received({variable(ApprovalsReceived): json.dumps(sent)}, ApprovalsReceived)


def test_approvers_may_name_people_off_the_protected_path_exactly() -> None:
    # IAM Identity Center roles and IAM users are people: named exactly, any path, any session.
    people = [
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ModelApprover_0123456789abcdef/*",
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ModelApprover_0123456789abcdef/alice@example.com",
        "arn:aws:iam::123456789012:user/alice",
    ]
    settings = parse_settings({"approvals": {"approvers": {"retirement": people}}})
    assert settings.approvals.approvers["retirement"] == people


@pytest.mark.parametrize("principal", APPROVER_PATTERNS)
def test_the_challenger_refuses_an_edited_approver_pattern_at_cold_start(principal: str) -> None:
    edited = environment(Challenger(), Thresholds(), [PROTECTED], {"challenger": [principal]})
    with pytest.raises(SettingsError, match=r"'mlgov\.approvals\.approvers': .*pattern in its user or role name"):
        received(edited, Received)
