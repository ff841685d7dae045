//! The host's integration tests, one test binary: the CLI end to end
//! (`cli_*`), the library API (`cli_api`), the file readers under fuzzing
//! (`fuzz_readers`), runs that go wrong (`reliability`) and `overlin
//! reproduce` (`reproduce`). Shared helpers and fixtures are in `common`.
//!
//! One binary links the library and its dependencies once instead of once
//! per file. `slurm.rs` stays a binary of its own: it starts a one-node
//! Slurm cluster (daemons on free ports, deadlines in seconds) and should
//! not share two cores with the CPU-heavy tests here; `cargo test -p
//! overlin --test slurm` runs it alone.

mod common;

mod cli_api;
mod cli_certify;
mod cli_io;
mod cli_run;
mod cli_sweep;
mod fuzz_readers;
mod reliability;
mod reproduce;
