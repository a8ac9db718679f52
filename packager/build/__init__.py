"""The build: the plan, the SCons graph's steps and actions, the toolchain, the manifest and the
artifact (reproducibly, by content), and `litebox pack`'s driver."""
