"""Global deduplication stages (exact, line, MinHash) and their audit. Found through ``curate.catalog``."""
