"""The helpers of the lessons: each repeats, as a function, code a notebook first shows in full."""
