"""The image: the root file system, launch and policy records, pack-time syscall rewriting, and
image format v1 (the writer and a checking reader)."""
