"""Answer keys of exercise 03 (conversations): its check functions and the data they check against.

Used nowhere yet.
"""
from __future__ import annotations
