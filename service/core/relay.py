"""The output side of the injection defence: generated text never relays what a report addressed to its readers.

The screen (`core.injection`) withholds instruction sentences it recognises by their words before any prompt is
built. This check does not depend on wording: whatever got through, an answer or summary sentence is dropped
when it carries a link or web address the question did not ask for, or speaks to the reader ("you", "please").
Analysts' answers and summaries state findings in the third person; links and requests in them come from
the reports' authors (or whoever planted them), not from the findings.
"""

from __future__ import annotations

import re

_LINK = re.compile(
    r"(?i)\bhttps?://\S+|\bwww\.\S+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}/\S*"  # host with a path
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|info|io|example|gov|int|edu|biz|co|me|app|site|online)\b"
)
_ASKS_FOR_LINK = re.compile(r"(?i)\b(?:links?|url|website|web ?site|web address|web ?page|e-?mail|online)\b")
_TO_READER = re.compile(r"(?i)\b(?:you|your|yours|yourself|please)\b")


def relayed_directive(sentence: str, question: str = "") -> str | None:
    """Why `sentence` (generated, answering `question` if any) relays a report's address to its readers, or None."""
    if _LINK.search(sentence) and not _ASKS_FOR_LINK.search(question):
        return "carries a link the question did not ask for"
    if _TO_READER.search(sentence) and not _TO_READER.search(question):
        return "speaks to the reader"
    return None
