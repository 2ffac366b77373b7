"""The small Python pieces of the virtbench devcloud (see docs/devcloud.md)."""
