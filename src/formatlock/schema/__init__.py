"""Schemas: loading, drafts, the $ref registry, validation and its format checks, readers."""
