//! The `virtbench` command line. `run_cli` is what `main` calls, and what the CLI tests
//! call in-process.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::platform::{self, requirements, Availability};
use crate::run::{self, RunOptions};

/// Exit codes: 0 ok, 1 a measurement failed, 2 bad input.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "virtbench",
    version,
    about = "Virtual machines vs containers, measured: the lab's calculator on every platform this host offers."
)]
pub struct Cli {
    /// No progress output (errors and the final report path still print).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// OpenStack cloud (a clouds.yaml entry), over the scenario's `[openstack] cloud`
    /// and OS_CLOUD.
    #[arg(long, global = true, value_name = "NAME")]
    pub os_cloud: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Say which platforms this host offers to the user running it, why the others
    /// are missing, and which variants and experiments of the scenario need root.
    Doctor {
        /// Scenario whose variants and experiments are checked (the built-in defaults
        /// when this file does not exist).
        #[arg(default_value = "scenarios/calculator.toml")]
        scenario: PathBuf,
    },
    /// Deploy, measure, tear down, and write reports/<run-id>/ and reports/latest.
    Run {
        /// Scenario file.
        #[arg(default_value = "scenarios/calculator.toml")]
        scenario: PathBuf,
        /// Comma-separated platforms, overriding the scenario's list.
        #[arg(long, value_delimiter = ',')]
        platforms: Option<Vec<String>>,
        /// Reports directory.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Show the run as the classroom demo does (live table, verdicts as they come).
        #[arg(long)]
        demo: bool,
        /// With --demo: do not open the report in the browser at the end.
        #[arg(long, requires = "demo")]
        no_open: bool,
    },
    /// The classroom demonstration: the quick scenario on every platform this host
    /// offers, as a live table with the verdicts given as each platform finishes; the
    /// report opens in the browser at the end when there is a display.
    Demo {
        /// Scenario file.
        #[arg(default_value = "scenarios/quick.toml")]
        scenario: PathBuf,
        /// Comma-separated platforms, overriding the scenario's list.
        #[arg(long, value_delimiter = ',')]
        platforms: Option<Vec<String>>,
        /// Reports directory.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Do not open the report in the browser at the end.
        #[arg(long)]
        no_open: bool,
    },
    /// Re-render a run's report without measuring again; with several results files,
    /// compare the runs (the first is the reference).
    Report {
        /// results.json of one or more runs.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Output directory (default: the first results file's directory for one run;
        /// standard output for a comparison in csv, json or markdown).
        #[arg(long)]
        out: Option<PathBuf>,
        /// html (a page), or csv, json, markdown (the comparison table).
        #[arg(long, default_value = "html")]
        format: crate::report::compare::Format,
    },
    /// Whether verdicts hold from run to run: for the results of several runs of the
    /// same scenario, each claim's verdict per run and whether they agree, and the
    /// run-to-run spread of every deciding figure (Markdown on standard output).
    Stability {
        /// results.json of two or more runs.
        #[arg(required = true, num_args = 2..)]
        results: Vec<PathBuf>,
    },
    /// Send load to a calculator already running on this host (loopback only): closed
    /// loop by default, open loop at --rate. Prints the figures as JSON.
    Load {
        /// Calculator address, e.g. 127.0.0.1:50000.
        addr: std::net::SocketAddr,
        /// Constant rate in requests per second (open loop); absent: closed loop.
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        #[arg(long, default_value_t = 8)]
        connections: usize,
        #[arg(long, default_value = "(5+3)/2")]
        expression: String,
    },
    /// Build (or reuse) the VM appliance: kernel, initramfs and a bootable disk as raw,
    /// qcow2 and VDI; with --out, copy them there (for VirtualBox or an OpenStack image).
    Appliance {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Remove every container, network, VM and process any virtbench run left behind.
    Cleanup {
        /// Only this run's resources.
        #[arg(long)]
        run_id: Option<String>,
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// On a shared OpenStack project: every virtbench run's leftovers, not only
        /// those of runs made from this host by this user.
        #[arg(long, conflicts_with = "run_id")]
        all_runs: bool,
        /// Comma-separated platforms to list or clean (default: every one).
        #[arg(long, value_delimiter = ',')]
        platforms: Option<Vec<String>>,
    },
}

/// Parse `args` (including argv[0]) and run; never exits the process.
pub fn run_cli<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            });
        }
    };
    if let Some(cloud) = &cli.os_cloud {
        // Before any thread exists: the openstack platform reads it with its sources.
        std::env::set_var(platform::openstack::clouds::OVERRIDE_VAR, cloud);
    }
    if let Command::Cleanup { all_runs: true, .. } = &cli.command {
        // Likewise read by the openstack platform's cleanup.
        std::env::set_var(platform::openstack::ALL_RUNS_VAR, "1");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("virtbench: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    ExitCode::from(rt.block_on(dispatch(cli)))
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Doctor { scenario } => doctor(&scenario).await,
        Command::Run {
            scenario,
            platforms,
            out,
            demo,
            no_open,
        } => {
            let show = if demo {
                Show::Demo { open: !no_open }
            } else {
                Show::Progress { quiet: cli.quiet }
            };
            measure(scenario, platforms, out, show).await
        }
        Command::Demo {
            scenario,
            platforms,
            out,
            no_open,
        } => measure(scenario, platforms, out, Show::Demo { open: !no_open }).await,
        Command::Report {
            results,
            out,
            format,
        } => report(results, out, format),
        Command::Stability { results } => stability(results),
        Command::Appliance { out } => appliance(out).await,
        Command::Load {
            addr,
            rate,
            duration,
            connections,
            expression,
        } => load(addr, rate, duration, connections, &expression).await,
        Command::Cleanup {
            run_id,
            dry_run,
            platforms,
            ..
        } => {
            let chosen = match cleanup_platforms(platforms) {
                Ok(p) => p,
                Err(code) => return code,
            };
            if dry_run {
                list_leftovers(run_id.as_deref(), chosen).await
            } else {
                cleanup(run_id.as_deref(), chosen).await
            }
        }
    }
}

/// How a run shows itself while it goes.
enum Show {
    /// The spinner and one line per variant (nothing with --quiet).
    Progress { quiet: bool },
    /// The classroom demo; `open`: the report in the browser at the end.
    Demo { open: bool },
}

/// C4's rule as a stop rule: a VM variant's startups stop once their ratio to the
/// slowest container's lies wholly in one of C4's bands. The thresholds come from the
/// claims catalogue, the kinds from each platform's own facts.
fn startup_decided() -> std::sync::Arc<dyn run::stop::StopRule> {
    use crate::platform::facts::Isolation;
    let of = |kind: Isolation| -> Vec<String> {
        crate::platform::all()
            .iter()
            .filter(|p| p.facts().isolation == kind)
            .map(|p| p.name().to_string())
            .collect()
    };
    let band = crate::report::claims::C4_STARTUP;
    std::sync::Arc::new(run::stop::DecidedInBand::new(
        "C4",
        crate::results::stop_key::STARTUP,
        of(Isolation::Vm),
        of(Isolation::Container),
        (band.contradict_at, band.support_at),
        0.0,
    ))
}

async fn measure(
    scenario: PathBuf,
    platforms: Option<Vec<String>>,
    out: PathBuf,
    show: Show,
) -> u8 {
    let observer = match show {
        Show::Progress { quiet } => {
            std::sync::Arc::new(run::progress::Progress::new(quiet)) as std::sync::Arc<_>
        }
        Show::Demo { .. } => crate::demo::observer(),
    };
    let opts = RunOptions {
        scenario,
        platforms,
        out,
        observer,
        // Beside the scenario's spread target: a VM's startups stop once C4's verdict
        // on them is decided (docs/stopping.md).
        stop: Some(startup_decided()),
    };
    match run::run(opts).await {
        Ok(o) => {
            if let Show::Progress { quiet: false } = show {
                if let Some(split) = &o.results.wall_split {
                    eprintln!(
                        "{}; reports written in {:.2} s after",
                        run::timing::render(split),
                        o.report_time.as_secs_f64()
                    );
                }
            }
            let index = o.dir.join("index.html");
            println!("{}", index.display());
            if let Show::Demo { open: true } = show {
                crate::demo::open(&index);
            }
            if o.cancelled {
                eprintln!("virtbench: interrupted; partial results written");
            } else if o.failed {
                eprintln!("virtbench: some measurements failed (see the report's errors)");
            }
            o.exit_code()
        }
        Err(e) => {
            eprintln!("virtbench: {e}");
            if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            }
        }
    }
}

/// One line per missing command, with the package that provides it.
fn print_missing(label: &str, missing: &[requirements::Requirement]) {
    for r in missing {
        println!(
            "{label:<10} missing      {} ({}); fix: {}",
            r.command,
            r.why,
            r.fix()
        );
    }
}

/// The scenario doctor checks: the file, else the built-in defaults (doctor must work
/// from any directory); a bad file is bad input.
fn doctor_scenario(path: &std::path::Path) -> Result<crate::scenario::Scenario, u8> {
    if !path.exists() {
        return Ok(toml::from_str("name = \"defaults\"").expect("the defaults parse"));
    }
    crate::scenario::Scenario::load(path)
        .map(|(s, _)| s)
        .map_err(|e| {
            eprintln!("virtbench: {e}");
            EXIT_BAD_INPUT
        })
}

async fn doctor(scenario: &std::path::Path) -> u8 {
    let scenario = match doctor_scenario(scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let root = platform::privilege::is_root();
    if root {
        println!(
            "{:<10} root         every platform this host offers runs",
            "user"
        );
    } else {
        println!(
            "{:<10} {:<12} not root: what needs root is said below, with the fix",
            "user",
            platform::privilege::user_name()
        );
    }
    for p in platform::all() {
        match p.probe().await {
            Availability::Available { details } => {
                let facts: Vec<String> = details.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{:<10} available    {}", p.name(), facts.join(" "));
                // Per variant and experiment of the scenario: what this user cannot do.
                let mut lines: Vec<String> = Vec::new();
                for v in p.variants(&scenario) {
                    for n in p.needs_root(&scenario, &v) {
                        if !lines.contains(&n.line()) {
                            lines.push(n.line());
                        }
                    }
                }
                for l in lines {
                    println!("{:<10} needs root   {l}", "");
                }
                for v in p.variants(&scenario) {
                    if let Some(why) = p.variant_unavailable(&scenario, &v) {
                        println!("{:<10} unavailable  {why}", "");
                    }
                }
            }
            Availability::Unavailable { reason, fix } => {
                println!("{:<10} unavailable  {reason}; fix: {fix}", p.name());
            }
        }
        // The commands a platform runs besides its main one (the disk tools of QEMU, say):
        // a probe can pass while one of them is missing, and the run would fail later.
        print_missing("", &requirements::missing(p.name()));
    }
    let tests = requirements::missing("tests");
    if tests.is_empty() {
        println!(
            "{:<10} ready        the test suite's tools are installed",
            "tests"
        );
    }
    print_missing("tests", &tests);
    EXIT_OK
}

fn stability(paths: Vec<PathBuf>) -> u8 {
    let mut runs = Vec::new();
    for p in &paths {
        match crate::report::read_results(p) {
            Ok(r) => runs.push(r),
            Err(e) => {
                eprintln!("virtbench: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    print!("{}", crate::report::stability::render(&runs));
    EXIT_OK
}

fn report(paths: Vec<PathBuf>, out: Option<PathBuf>, format: crate::report::compare::Format) -> u8 {
    use crate::report::compare::{self, Format};
    let mut runs = Vec::new();
    for p in &paths {
        match crate::report::read_results(p) {
            Ok(r) => runs.push(r),
            Err(e) => {
                eprintln!("virtbench: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    let written = if runs.len() == 1 && format == Format::Html {
        let dir = out.unwrap_or_else(|| {
            paths[0]
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| ".".into())
        });
        crate::report::write_all(&runs[0], &dir).map(|()| Some(dir.join("index.html")))
    } else {
        let text = compare::render(&runs, format);
        match (out, format) {
            (None, f) if f != Format::Html => {
                print!("{text}");
                Ok(None)
            }
            (dir, f) => {
                let dir = dir.unwrap_or_else(|| ".".into());
                let path = dir.join(format!("compare.{}", f.extension()));
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(&path, text))
                    .map(|()| Some(path.clone()))
                    .map_err(|source| crate::report::ReportError::Io { path, source })
            }
        }
    };
    match written {
        Ok(Some(path)) => {
            println!("{}", path.display());
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(e) => {
            eprintln!("virtbench: {e}");
            EXIT_FAILED
        }
    }
}

async fn load(
    addr: std::net::SocketAddr,
    rate: Option<f64>,
    duration: f64,
    connections: usize,
    expression: &str,
) -> u8 {
    use crate::measure::{load, Probe};
    use std::time::Duration;
    // The network rule: virtbench sends traffic to this machine only.
    if !addr.ip().is_loopback() {
        eprintln!("virtbench: load: address {addr}: only loopback addresses are allowed");
        return EXIT_BAD_INPUT;
    }
    if !(duration.is_finite() && duration > 0.0)
        || connections == 0
        || rate.is_some_and(|r| !(r.is_finite() && r > 0.0))
    {
        eprintln!("virtbench: load: --duration, --connections and --rate must be positive");
        return EXIT_BAD_INPUT;
    }
    let probe = match Probe::for_expression(expression) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("virtbench: load: --expression {expression:?}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let probes = [probe];
    let timeout = Duration::from_secs(2);
    let duration = Duration::from_secs_f64(duration);
    let out = match rate {
        Some(rate_rps) => {
            let cfg = load::OpenLoopConfig {
                rate_rps,
                duration,
                warmup: Duration::from_millis(500),
                connections,
                timeout,
            };
            load::open_loop(addr, &probes, &cfg)
                .await
                .map(|r| serde_json::to_string_pretty(&r))
        }
        None => {
            let cfg = load::ClosedLoopConfig {
                duration,
                connections,
                timeout,
            };
            load::closed_loop(addr, &probes, &cfg)
                .await
                .map(|r| serde_json::to_string_pretty(&r))
        }
    };
    match out {
        Ok(json) => {
            println!("{}", json.expect("results serialise"));
            EXIT_OK
        }
        Err(e) => {
            eprintln!("virtbench: load: {e}");
            EXIT_FAILED
        }
    }
}

async fn appliance(out: Option<PathBuf>) -> u8 {
    let a = match crate::artifact::appliance::build(&crate::artifact::cache_dir()).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("virtbench: appliance: {e}");
            return EXIT_FAILED;
        }
    };
    println!("kernel {} ({})", a.kernel_version, a.kernel_source);
    let paths = match &out {
        None => vec![
            a.kernel.clone(),
            a.initramfs.clone(),
            a.disk_raw.clone(),
            a.qcow2.clone(),
            a.vdi.clone(),
        ],
        Some(dir) => match a.export(dir) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("virtbench: appliance: {e}");
                return EXIT_FAILED;
            }
        },
    };
    for path in paths {
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("{bytes:>12} bytes  {}", path.display());
    }
    EXIT_OK
}

/// Scratch directories of runs (`$TMPDIR/virtbench-<run id>`): a run removes its own at
/// the end, a forced exit leaves it.
fn scratch_dirs(run_id: Option<&str>) -> Vec<PathBuf> {
    let prefix = format!("virtbench-{}", run_id.unwrap_or(""));
    std::fs::read_dir(std::env::temp_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name == prefix || (run_id.is_none() && name.starts_with(&prefix))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// The platforms `cleanup --platforms` names (every one when `None`); an unknown name
/// is bad input.
fn cleanup_platforms(names: Option<Vec<String>>) -> Result<Vec<Box<dyn platform::Platform>>, u8> {
    let all = platform::all();
    let Some(names) = names else {
        return Ok(all);
    };
    if let Some(bad) = names
        .iter()
        .find(|n| !all.iter().any(|p| p.name() == n.as_str()))
    {
        let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
        eprintln!(
            "virtbench: cleanup: --platforms: unknown platform {bad:?} (expected one of {})",
            known.join(", ")
        );
        return Err(EXIT_BAD_INPUT);
    }
    Ok(all
        .into_iter()
        .filter(|p| names.iter().any(|n| n == p.name()))
        .collect())
}

/// `cleanup --dry-run`: what each platform would remove, one line each.
async fn list_leftovers(run_id: Option<&str>, platforms: Vec<Box<dyn platform::Platform>>) -> u8 {
    let mut code = EXIT_OK;
    for dir in scratch_dirs(run_id) {
        println!("{:<10} scratch directory {}", "run", dir.display());
    }
    for p in platforms {
        match p.leftovers(run_id).await {
            Ok(Some(items)) if items.is_empty() => match p.leftovers_impossible() {
                Some(why) => println!("{:<10} nothing left: {why}", p.name()),
                None => println!("{:<10} nothing left", p.name()),
            },
            Ok(Some(items)) => {
                for item in items {
                    println!("{:<10} {item}", p.name());
                }
            }
            Ok(None) => println!(
                "{:<10} cannot list its leftovers (cleanup still removes them)",
                p.name()
            ),
            Err(e) => {
                eprintln!("{:<10} listing failed: {e}", p.name());
                code = EXIT_FAILED;
            }
        }
    }
    code
}

async fn cleanup(run_id: Option<&str>, platforms: Vec<Box<dyn platform::Platform>>) -> u8 {
    let mut code = EXIT_OK;
    let scratch = scratch_dirs(run_id);
    let removed = scratch
        .iter()
        .filter(|d| std::fs::remove_dir_all(d).is_ok())
        .count();
    println!("{:<10} removed {removed} scratch directories", "run");
    for p in platforms {
        match p.cleanup(run_id).await {
            Ok(n) => println!("{:<10} removed {n}", p.name()),
            Err(e) => {
                eprintln!("{:<10} cleanup failed: {e}", p.name());
                code = EXIT_FAILED;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_platforms_narrow_the_list_and_refuse_an_unknown_name() {
        assert_eq!(
            cleanup_platforms(None).map(|p| p.len()).ok(),
            Some(platform::all().len())
        );
        let chosen = cleanup_platforms(Some(vec!["lxc".into(), "native".into()])).ok();
        let names: Option<Vec<&str>> = chosen
            .as_ref()
            .map(|p| p.iter().map(|p| p.name()).collect());
        assert_eq!(names, Some(vec!["native", "lxc"]));
        assert_eq!(
            cleanup_platforms(Some(vec!["kubernetes".into()])).err(),
            Some(EXIT_BAD_INPUT)
        );
    }
}
