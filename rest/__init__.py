"""The REST `/v1` surface over Bay's service layer."""
