//! `calculator <role>`: one of the five services (see `calculator --help`).
//! Subcommands that are not services (the VM appliance's `init`) dispatch here too.

use std::process::ExitCode;

use calculator::cli::{self, Command, ServeConfig};

mod init;

fn main() -> ExitCode {
    if init::requested() {
        init::main();
    }
    if calculator::noise::requested() {
        let kind = match calculator::noise::kind() {
            Ok(k) => k,
            Err(e) => {
                eprintln!("calculator noise: {e}");
                return ExitCode::from(2);
            }
        };
        let e = calculator::noise::run(&calculator::noise::dir(), kind);
        eprintln!("calculator noise: {e}");
        return ExitCode::FAILURE;
    }
    // Lossy, not `args()`: a non-UTF-8 argument is a usage error, not a panic.
    let args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    match cli::parse(args, |k| std::env::var(k).ok()) {
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("calculator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve(config)) => run(config),
        Ok(Command::Router) => wait_for_termination(),
        Err(e) => {
            eprintln!("calculator: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(config: ServeConfig) -> ExitCode {
    for route in &config.routes {
        if let Err(e) = route.add() {
            eprintln!("calculator: --route {route}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match calculator::service::runtime(config.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("calculator: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let serving = calculator::serve(config.role, config.listen, config.peers, config.timeout);
        tokio::select! {
            result = serving => result,
            () = terminated() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("calculator: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The router role: the kernel forwards the packets; the process only keeps the
/// container alive until it is stopped.
fn wait_for_termination() -> ExitCode {
    match calculator::service::runtime(1) {
        Ok(runtime) => {
            runtime.block_on(terminated());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("calculator: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM or SIGINT. Handled explicitly because as PID 1 of a container the default
/// action of SIGTERM does not apply, and `docker stop` would wait out its grace period.
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the default actions still end the process.
        _ => std::future::pending().await,
    }
}
