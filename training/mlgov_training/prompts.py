"""The text the model learns and answers in. Serving must build the same prompt.

The response is the recommendation schema: {"title_ids": ["MNG-00001", ...]}. An empty list is
the model's way of recommending nothing (taught for restricted titles asked by an age-restricted
profile).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

FORMAT_VERSION = 1
PROFILE_GENERAL = "general"
PROFILE_AGE_RESTRICTED = "age_restricted"
PROMPT_TEMPLATE = "### profile: {profile}\n### language: {language}\n### query: {query}\n### response:\n"


def build_prompt(profile: str, language: str, query: str) -> str:
    # Newlines inside a query would fake a new section.
    return PROMPT_TEMPLATE.format(profile=profile, language=language, query=" ".join(query.split()))


def build_response(title_ids: Sequence[str]) -> str:
    return json.dumps({"title_ids": list(title_ids)}, ensure_ascii=False)


def parse_response(text: str) -> list[str] | None:
    """The title ids of a response, or None when it is not the recommendation schema."""
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != {"title_ids"}:
        return None
    ids = value["title_ids"]
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        return None
    return ids
