"""Which labels a sentence really mentions: the verification step of every corpus sentence.
The matcher lives in lzt.vocab (the knowledge loader checks its phrases with it too)."""

from lzt.vocab.mentions import Mention, MentionMatcher

__all__ = ["Mention", "MentionMatcher"]
