"""Returns: where each change in wealth came from (saved, earned, moved by currencies), and
time- and money-weighted returns per account and in total, from the returns marts."""
