"""The AI evaluation summary (SPEC §5.8): prompt, provider call, cache and throttles."""
