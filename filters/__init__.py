"""The filter library: one module per family. Stages are found through ``curate.catalog``."""
