"""Deep merge of pillar mappings, as map.jinja merges defaults and the pillar."""

import copy


def deep_merge(base: dict, over: dict) -> dict:
    """``base`` updated by ``over``: mappings merged key by key, anything else replaced."""
    result = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result
