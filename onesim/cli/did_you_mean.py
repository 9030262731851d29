"""The "Did you mean?" hint Ruby's OptionParser appends to an unknown or ambiguous option.

optparse (0.2, Ruby 3.1) asks ``DidYouMean::SpellChecker`` (did_you_mean 1.6) to correct the
option name against every long option name it knows, and appends
``"\\nDid you mean?  <name>"`` (more names on further lines indented to the first one) when
the checker finds any. The checker keeps names whose Jaro-Winkler similarity reaches 0.834
(0.77 for names of 3 characters or fewer), then those within a Levenshtein distance of a
quarter of the name's length, else the single most similar one closer than its length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["jaro_winkler", "levenshtein", "message_for", "spell_check"]


def _jaro(first: str, second: str) -> float:
    if len(first) > len(second):
        first, second = second, first
    length1, length2 = len(first), len(second)
    window = max(length2 // 2 - 1, 0)
    flags1 = [False] * length1
    flags2 = [False] * length2
    matches = 0
    for i in range(length1):
        for j in range(max(i - window, 0), min(i + window, length2 - 1) + 1):
            if not flags2[j] and first[i] == second[j]:
                flags1[i] = flags2[j] = True
                matches += 1
                break
    transpositions = 0
    k = 0
    for i in range(length1):
        if not flags1[i]:
            continue
        j = k
        while not flags2[j]:
            j += 1
        k = j + 1
        if first[i] != second[j]:
            transpositions += 1
    transpositions //= 2
    if matches == 0:
        return 0.0
    m = float(matches)
    return (m / length1 + m / length2 + (m - transpositions) / m) / 3


def jaro_winkler(first: str, second: str) -> float:
    """``DidYouMean::JaroWinkler.distance`` (a similarity: 1.0 is identical)."""
    similarity = _jaro(first, second)
    if similarity <= 0.7:
        return similarity
    bonus = 0
    for index, char in enumerate(first):
        if index < 4 and index < len(second) and char == second[index]:
            bonus += 1
        else:
            break
    return similarity + bonus * 0.1 * (1 - similarity)


def levenshtein(first: str, second: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    if not first:
        return len(second)
    if not second:
        return len(first)
    previous = list(range(len(second) + 1))
    for i, char in enumerate(first, start=1):
        current = [i]
        for j, other in enumerate(second, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1]


def _normalize(word: str) -> str:
    return word.lower().replace("@", "")


def spell_check(word: str, dictionary: Sequence[str]) -> list[str]:
    """``DidYouMean::SpellChecker#correct``."""
    wanted = _normalize(word)
    threshold = 0.834 if len(wanted) > 3 else 0.77
    words = [w for w in dictionary if jaro_winkler(_normalize(w), wanted) >= threshold]
    words = [w for w in words if w != word]
    # sort_by! then reverse!: most similar first (ties keep Ruby's reversed order)
    words = sorted(words, key=lambda w: jaro_winkler(w, wanted))[::-1]
    limit = math.ceil(len(wanted) * 0.25)
    corrections = [w for w in words if levenshtein(_normalize(w), wanted) <= limit]
    if not corrections:
        corrections = [
            w
            for w in words
            if levenshtein(_normalize(w), wanted) < min(len(wanted), len(_normalize(w)))
        ][:1]
    return corrections


def message_for(word: str, dictionary: Sequence[str]) -> str:
    """optparse's ``additional_message``: ``all_candidates & corrections``, formatted."""
    corrections = set(spell_check(word, dictionary))
    shown: list[str] = []
    for candidate in dictionary:
        if candidate in corrections and candidate not in shown:
            shown.append(candidate)
    if not shown:
        return ""
    return "\nDid you mean?  " + "\n               ".join(shown)
