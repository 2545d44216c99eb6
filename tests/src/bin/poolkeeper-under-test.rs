//! The `poolkeeper` program, built inside this package so its tests can run it as a child
//! process (`CARGO_BIN_EXE_poolkeeper-under-test`) and kill it.

fn main() -> std::process::ExitCode {
    poolkeeper_grpc::cli::main()
}
