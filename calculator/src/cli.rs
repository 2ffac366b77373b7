//! Command line: `calculator <ROLE> [OPTIONS]`, each option also read from an
//! environment variable (the flag wins). Parsed by hand to keep the binary small.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::client::{Peer, Peers, DEFAULT_TIMEOUT};
use crate::expr::Op;
use crate::route::Route;
use crate::service::Role;

pub const USAGE: &str = "\
Usage: calculator <ROLE> [OPTIONS]

The course lab's five-service calculator over HTTP/1.1 (method and path ignored;
GET /virtbench/probe answers what the service sees of its machine, see README).

Roles:
  calculator  POST an infix expression, e.g. (5+3)/2  ->  result = 4      (port 50000)
  sum|sub|mul|div
              POST two numbers 'a b'                  ->  a+b, a-b, ...  (ports 50001-50004)
  all         the five in one process: the calculator on --listen, the four
              sub-services on loopback ports of their own (--sum... ignored)
  router      serve nothing, wait for SIGTERM (a container that only forwards
              packets between two networks; no options)
  noise [DIR] not a service: burns one core and rewrites + fsyncs a file in DIR
              (CALCULATOR_NOISE_DIR, else /tmp) until killed (noisy-neighbour test)

Options (a flag wins over its environment variable):
  --listen ADDR      IP:PORT or PORT to listen on   CALCULATOR_LISTEN   [0.0.0.0:<role's port>]
  --sum URL          sum service                    CALCULATOR_SUM      [http://127.0.0.1:50001]
  --sub URL          sub service                    CALCULATOR_SUB      [http://127.0.0.1:50002]
  --mul URL          mul service                    CALCULATOR_MUL      [http://127.0.0.1:50003]
  --div URL          div service                    CALCULATOR_DIV      [http://127.0.0.1:50004]
  --timeout-ms MS    deadline of one sub-service call  CALCULATOR_TIMEOUT_MS  [2000]
  --threads N        runtime threads (1: a single-threaded runtime)  CALCULATOR_THREADS  [1]
  --route DST/LEN,GW add a route at start (repeatable; needs CAP_NET_ADMIN)
                     CALCULATOR_ROUTE (several separated by ';')  [none]
  -h, --help         this text
  -V, --version      the version

URLs are IP:PORT or http://IP:PORT: the static binary does no DNS lookups.
Errors answer 400 (malformed), 413 (body > 64 KiB), 422 (division by zero),
502 (sub-service failing), 504 (sub-service timeout), with a one-line reason.
";

/// What the command line asks for.
// Built once per process: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Serve(ServeConfig),
    /// Wait for SIGTERM and serve nothing.
    Router,
    Help,
    Version,
}

/// Everything a service process needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub role: Role,
    pub listen: SocketAddr,
    pub peers: Peers,
    pub timeout: Duration,
    pub threads: usize,
    /// Routes to add before serving.
    pub routes: Vec<Route>,
}

impl ServeConfig {
    /// The defaults of a role (the lab's ports, sub-services on this host).
    pub fn new(role: Role) -> ServeConfig {
        ServeConfig {
            role,
            listen: role.default_listen(),
            peers: Peers::default(),
            timeout: DEFAULT_TIMEOUT,
            threads: 1,
            routes: Vec::new(),
        }
    }
}

/// A bad command line, said in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

#[derive(Clone, Copy)]
enum Setting {
    Listen,
    Peer(Op),
    TimeoutMs,
    Threads,
    Route,
}

const SETTINGS: [(&str, &str, Setting); 8] = [
    ("--listen", "CALCULATOR_LISTEN", Setting::Listen),
    ("--sum", "CALCULATOR_SUM", Setting::Peer(Op::Add)),
    ("--sub", "CALCULATOR_SUB", Setting::Peer(Op::Sub)),
    ("--mul", "CALCULATOR_MUL", Setting::Peer(Op::Mul)),
    ("--div", "CALCULATOR_DIV", Setting::Peer(Op::Div)),
    ("--timeout-ms", "CALCULATOR_TIMEOUT_MS", Setting::TimeoutMs),
    ("--threads", "CALCULATOR_THREADS", Setting::Threads),
    ("--route", "CALCULATOR_ROUTE", Setting::Route),
];

/// Parse the arguments (without the program name) and the environment (`env` looks a
/// variable up; pass `|k| std::env::var(k).ok()`).
pub fn parse<I, S>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut role: Option<Role> = None;
    let mut router = false;
    let mut flags: Vec<(usize, String)> = Vec::new();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            _ => {}
        }
        if arg.starts_with('-') {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let index = SETTINGS
                .iter()
                .position(|(flag, _, _)| *flag == name)
                .ok_or_else(|| CliError(format!("unknown option '{name}' (see --help)")))?;
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| CliError(format!("{name} needs a value (see --help)")))?,
            };
            flags.push((index, value));
        } else if let Some(first) = role {
            return Err(CliError(format!(
                "unexpected argument '{arg}' (the role is already '{first}')"
            )));
        } else if router {
            return Err(CliError(format!(
                "unexpected argument '{arg}' (the role is already 'router')"
            )));
        } else if arg == "router" {
            router = true;
        } else {
            role = Some(arg.parse().map_err(|e| CliError(format!("{e}")))?);
        }
    }
    if router {
        return match flags.first() {
            Some((index, _)) => Err(CliError(format!(
                "the router role takes no options ('{}' given)",
                SETTINGS[*index].0
            ))),
            None => Ok(Command::Router),
        };
    }
    let role = role.ok_or_else(|| CliError("no role given (see --help)".into()))?;
    let mut config = ServeConfig::new(role);
    // Environment first, then flags over it.
    for (index, (_, var, _)) in SETTINGS.iter().enumerate() {
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            apply(&mut config, index, &value).map_err(|e| CliError(format!("{var}: {e}")))?;
        }
    }
    let mut route_flag_seen = false;
    for (index, value) in flags {
        let flag = SETTINGS[index].0;
        // Flags win over the environment: the first --route drops CALCULATOR_ROUTE's.
        if matches!(SETTINGS[index].2, Setting::Route) && !route_flag_seen {
            route_flag_seen = true;
            config.routes.clear();
        }
        apply(&mut config, index, &value).map_err(|e| CliError(format!("{flag}: {e}")))?;
    }
    Ok(Command::Serve(config))
}

fn apply(config: &mut ServeConfig, index: usize, value: &str) -> Result<(), String> {
    match SETTINGS[index].2 {
        Setting::Listen => config.listen = listen_addr(value)?,
        Setting::Peer(op) => config
            .peers
            .set(op, value.parse::<Peer>().map_err(|e| e.0)?),
        Setting::TimeoutMs => {
            let ms = positive(value)?;
            config.timeout = Duration::from_millis(ms);
        }
        Setting::Threads => {
            let n = positive(value)?;
            if n > 64 {
                return Err(format!("'{value}' is more than 64 threads"));
            }
            config.threads = n as usize;
        }
        Setting::Route => config.routes.extend(Route::parse_list(value)?),
    }
    Ok(())
}

/// `IP:PORT`, or a bare `PORT` on every interface.
fn listen_addr(value: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = value.parse::<u16>() {
        return Ok(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port));
    }
    value
        .parse()
        .map_err(|_| format!("'{value}' is not IP:PORT or PORT"))
}

fn positive(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{value}' is not a positive whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_env(args: &[&str], env: &[(&str, &str)]) -> Result<Command, CliError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().copied(), move |k| {
            env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        })
    }

    fn serve(args: &[&str], env: &[(&str, &str)]) -> ServeConfig {
        match parse_env(args, env) {
            Ok(Command::Serve(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> String {
        match parse_env(args, env) {
            Err(e) => e.0,
            other => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_per_role() {
        let c = serve(&["calculator"], &[]);
        assert_eq!(c, ServeConfig::new(Role::Calculator));
        assert_eq!(c.listen.to_string(), "0.0.0.0:50000");
        assert_eq!(c.peers.mul.to_string(), "http://127.0.0.1:50003/");
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(serve(&["mul"], &[]).listen.to_string(), "0.0.0.0:50003");
        assert_eq!(serve(&["all"], &[]).role, Role::All);
    }

    #[test]
    fn flags_and_environment() {
        let c = serve(
            &[
                "--listen",
                "127.0.0.1:6000",
                "calculator",
                "--sum=10.0.0.1:1",
                "--timeout-ms",
                "250",
            ],
            &[
                ("CALCULATOR_SUM", "10.0.0.9:9"),
                ("CALCULATOR_DIV", "http://10.0.0.4:4"),
                ("CALCULATOR_THREADS", "2"),
            ],
        );
        assert_eq!(c.listen.to_string(), "127.0.0.1:6000");
        assert_eq!(
            c.peers.sum.to_string(),
            "http://10.0.0.1:1/",
            "the flag wins"
        );
        assert_eq!(c.peers.div.to_string(), "http://10.0.0.4:4/");
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.threads, 2);
        assert_eq!(
            serve(&["sum", "--listen", "7000"], &[]).listen.to_string(),
            "0.0.0.0:7000"
        );
        assert_eq!(
            serve(&["sum"], &[("CALCULATOR_LISTEN", "[::1]:7")])
                .listen
                .to_string(),
            "[::1]:7"
        );
    }

    #[test]
    fn routes_repeat_and_flags_replace_environment() {
        let env = [(
            "CALCULATOR_ROUTE",
            "10.5.7.0/24,10.5.8.254;10.9.0.0/16,10.5.8.254",
        )];
        let from_env = serve(&["calculator"], &env).routes;
        assert_eq!(from_env.len(), 2);
        assert_eq!(from_env[1].to_string(), "10.9.0.0/16,10.5.8.254");
        let flags = serve(
            &[
                "sum",
                "--route",
                "10.5.8.0/24,10.5.7.254",
                "--route=10.6.0.0/16,10.5.7.254",
            ],
            &env,
        )
        .routes;
        let flags: Vec<String> = flags.iter().map(|r| r.to_string()).collect();
        assert_eq!(flags, ["10.5.8.0/24,10.5.7.254", "10.6.0.0/16,10.5.7.254"]);
        assert!(serve(&["sum"], &[]).routes.is_empty());
        assert!(error(&["sum", "--route", "10.5.8.0/24"], &[])
            .starts_with("--route: '10.5.8.0/24' is not DST/LEN,GATEWAY"));
        assert_eq!(parse_env(&["router"], &env), Ok(Command::Router));
        assert_eq!(
            error(&["router", "--listen", "1"], &[]),
            "the router role takes no options ('--listen' given)"
        );
        assert_eq!(
            error(&["router", "sum"], &[]),
            "unexpected argument 'sum' (the role is already 'router')"
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_env(&["--help"], &[]), Ok(Command::Help));
        assert_eq!(parse_env(&["sum", "-h"], &[]), Ok(Command::Help));
        assert_eq!(parse_env(&["-V"], &[]), Ok(Command::Version));
    }

    #[test]
    fn bad_input_is_one_line() {
        assert_eq!(error(&[], &[]), "no role given (see --help)");
        assert!(error(&["pow"], &[]).starts_with("unknown role 'pow'"));
        assert_eq!(
            error(&["sum", "div"], &[]),
            "unexpected argument 'div' (the role is already 'sum')"
        );
        assert_eq!(
            error(&["sum", "--port", "1"], &[]),
            "unknown option '--port' (see --help)"
        );
        assert_eq!(
            error(&["sum", "--listen"], &[]),
            "--listen needs a value (see --help)"
        );
        assert_eq!(
            error(&["sum", "--listen", "x"], &[]),
            "--listen: 'x' is not IP:PORT or PORT"
        );
        assert!(error(&["calculator", "--sum", "sum.local:1"], &[])
            .starts_with("--sum: 'sum.local:1' needs an IP"));
        assert_eq!(
            error(&["calculator", "--timeout-ms", "0"], &[]),
            "--timeout-ms: '0' is not a positive whole number"
        );
        assert_eq!(
            error(&["calculator"], &[("CALCULATOR_THREADS", "lots")]),
            "CALCULATOR_THREADS: 'lots' is not a positive whole number"
        );
    }
}
