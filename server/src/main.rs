//! The `msghub` binary: `msghub serve` and the day-to-day commands (`msghub --help`).

fn main() -> std::process::ExitCode {
    msghub_server::cli::main()
}
