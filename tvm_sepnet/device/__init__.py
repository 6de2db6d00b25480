"""Running tvm-sepnet code on other architectures from this x86 host: cross toolchains, qemu-user with
a pinned CPU, and a C loader for exported kernel libraries (:mod:`.emulation`)."""
