"""Names used across stacks, in one place."""

APP_NAME = "mlgov"
METRIC_NAMESPACE = "MLGovernance"
UNREGISTERED_METRIC = "UnregisteredEndpointDetected"
AUDIT_SERVICE = "endpoint-audit"
AUDIT_SKIPPED_METRIC = "AuditEventSkipped"  # mlgov_runtime.lineage_audit.handler.SKIPPED_METRIC

LAMBDA_ASSET_DIR = "lambdas"

# Powertools comes from the AWS-published layer; its ARN is resolved at deploy time from the
# public SSM parameter AWS maintains per region, pinned to the version the tests run with.
POWERTOOLS_VERSION = "3.37.0"
# The Python the test suite runs on; raise both together. Synth ships precompiled bytecode only when
# run by this same version (another magic number would be ignored at import), else source alone.
LAMBDA_PYTHON = "python3.11"
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/arm64/{LAMBDA_PYTHON}/{POWERTOOLS_VERSION}"

AUDIT_STACK_NAME = "MlGovEndpointAudit"
GUARDRAILS_STACK_NAME = "MlGovGuardrails"
ACCOUNT_GUARDRAILS_STACK_NAME = "MlGovAccountGuardrails"

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
STATE_CHANGE_DETAIL_TYPE = "SageMaker Endpoint State Change"

MEMBER_ROLE_STACK_NAME = "MlGovMemberRole"
MEMBER_ROLE_STACKSET_STACK_NAME = "MlGovMemberRoleStackSet"
MEMBER_FORWARDING_STACK_NAME = "MlGovMemberEventForwarding"
# Governance-account roles the member role trusts: fixed names (suffixed with the region), since a
# trust policy in another account cannot refer to a generated one.
ORG_SCAN_WORKER_ROLE_PREFIX = "mlgov-org-scan-worker"
AUDIT_ROLE_PREFIX = "mlgov-endpoint-audit"
CAPACITY_ROLE_PREFIX = "mlgov-capacity-check"
