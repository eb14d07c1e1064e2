"""Teams' own LLM provider keys: storage with live validation, key checks, model listing."""
