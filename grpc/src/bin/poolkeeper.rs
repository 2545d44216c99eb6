//! `poolkeeper`: the service (`serve`) and its operations tools; see `poolkeeper --help`.

fn main() -> std::process::ExitCode {
    poolkeeper_grpc::cli::main()
}
