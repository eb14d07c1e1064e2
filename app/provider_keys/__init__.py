"""Teams' own LLM provider keys, key validation, model listing and the evaluation config."""
