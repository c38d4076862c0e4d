"""Every path that reads a versioned model package ARN accepts the same ones (core/arns.py): SageMaker's group-name
rule (letters, digits, inner hyphens, at most 63) and a version, in any partition."""

from __future__ import annotations

import pytest

from mlgov_runtime.challenger.events import InvalidEvent, parse_registered
from mlgov_runtime.core.arns import PACKAGE_ARN
from mlgov_runtime.retirement.logic import package_version

GOOD = [
    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/manga-recommender/7",
    "arn:aws-cn:sagemaker:cn-north-1:123456789012:model-package/a/1",
    "arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:model-package/" + "g" * 63 + "/123456789",
]
BAD = [
    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/manga_recommender/7",  # no underscore in a group
    "arn:aws:sagemaker::123456789012:model-package/manga-recommender/7",  # no region
    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/manga-recommender",  # unversioned
    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/-manga/7",  # a group starts with a letter or digit
    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/" + "g" * 64 + "/7",  # longer than SageMaker allows
    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/manga-recommender/7\n",
    "arn:aws:sagemaker:eu-west-1:12345678901:model-package/manga-recommender/7",
]


def registered(arn: str) -> dict[str, object]:
    return {
        "id": "e-1",
        "source": "mlgov.retraining",
        "detail-type": "Model Package Registered",
        "detail": {"model_package_arn": arn},
    }


@pytest.mark.parametrize("arn", GOOD)
def test_a_versioned_package_arn_is_read_alike_everywhere(arn: str) -> None:
    assert PACKAGE_ARN.fullmatch(arn)
    assert parse_registered(registered(arn)).model_package_arn == arn
    group, version = arn.rsplit(":", 1)[1].split("/")[1:]
    assert package_version(arn) == (group.lower(), int(version))


@pytest.mark.parametrize("arn", BAD)
def test_anything_else_is_refused_everywhere(arn: str) -> None:
    assert not PACKAGE_ARN.fullmatch(arn)
    with pytest.raises(InvalidEvent, match="not a versioned model package ARN"):
        parse_registered(registered(arn))
    assert package_version(arn) is None
