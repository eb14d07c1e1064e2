"""The team's evaluation config: its active provider key and the trial-evaluation counter."""
