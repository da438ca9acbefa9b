"""tests/riscv holds the scripted session and helpers of `make riscv-check` (docker/riscv-check.sh),
which runs them under qemu-user; none of it is collected by the normal `make test` run."""

collect_ignore_glob = ["*"]
