//! `GET /virtbench/probe`: the workload says, from inside, what it can see of the
//! machine it runs on, so that the harness compares facts instead of assuming them from
//! a platform's name. Every service answers it (the lab's contract is unchanged for
//! everything else: a POST is an expression, whatever its path).
//!
//! The answer is plain text, one `key=value` per line:
//!
//! | key | value |
//! |---|---|
//! | `kernel_release` | `/proc/sys/kernel/osrelease` |
//! | `boot_id` | `/proc/sys/kernel/random/boot_id` (the same as the host's: the same kernel) |
//! | `pid` | the service's own PID as it sees it (1 as a container's or VM's first process) |
//! | `processes` | processes listed in its /proc (its pid namespace, or the whole machine) |
//! | `cap_eff` | `CapEff` of /proc/self/status, hex |
//! | `cap_eff_count` | number of capabilities in `cap_eff` |
//! | `net_ns`, `pid_ns` | `readlink /proc/self/ns/net` (`pid`), e.g. `net:[4026531840]` |
//! | `canary` | `IP:PORT connected\|refused\|timeout\|unreachable\|error`, once per canary asked |
//!
//! A value that cannot be read is left out and named in an `unknown=KEY: reason` line.
//! `?canary=IP:PORT,IP:PORT` asks the service to open a TCP connection to each address
//! (at most [`MAX_CANARIES`], each within [`CANARY_TIMEOUT`]) and to say whether it could.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinSet;

/// The probe's path (any method but POST, so that it cannot be taken for an expression).
pub const PATH: &str = "/virtbench/probe";
/// Connect deadline of one canary: a refused port answers at once, a filtered one
/// would otherwise hang for a minute.
pub const CANARY_TIMEOUT: Duration = Duration::from_secs(1);
/// Canaries tried per request, so that a probe cannot be turned into a port scan.
pub const MAX_CANARIES: usize = 8;

/// Is this request the probe? `GET` (or `HEAD`) of [`PATH`]: a POST stays an expression.
pub fn wanted(method: &hyper::Method, path: &str) -> bool {
    (method == hyper::Method::GET || method == hyper::Method::HEAD) && path == PATH
}

/// The canaries of a query string (`canary=IP:PORT,IP:PORT`); a malformed one is named.
pub fn canaries(query: Option<&str>) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "canary" {
            return Err(format!("unknown probe parameter '{key}' (expected canary)"));
        }
        for addr in value.split(',').filter(|a| !a.is_empty()) {
            let addr = addr
                .parse::<SocketAddr>()
                .map_err(|_| format!("canary '{addr}' is not IP:PORT"))?;
            out.push(addr);
        }
    }
    if out.len() > MAX_CANARIES {
        return Err(format!(
            "{} canaries asked, at most {MAX_CANARIES}",
            out.len()
        ));
    }
    Ok(out)
}

/// The probe's answer (see the module documentation).
pub async fn answer(canaries: &[SocketAddr]) -> String {
    let mut lines = Vec::new();
    let mut unknown = Vec::new();
    let mut put = |key: &str, value: std::io::Result<String>| match value {
        Ok(v) => lines.push(format!("{key}={v}")),
        Err(e) => unknown.push(format!("unknown={key}: {e}")),
    };
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_string());
    put("kernel_release", read("/proc/sys/kernel/osrelease"));
    put("boot_id", read("/proc/sys/kernel/random/boot_id"));
    put("pid", Ok(std::process::id().to_string()));
    put("processes", processes().map(|n| n.to_string()));
    let cap = read("/proc/self/status").and_then(|s| {
        cap_eff(&s).ok_or_else(|| std::io::Error::other("no CapEff line in /proc/self/status"))
    });
    match cap {
        Ok(hex) => {
            let count = u64::from_str_radix(&hex, 16).map(u64::count_ones);
            put("cap_eff", Ok(hex));
            put(
                "cap_eff_count",
                count.map(|n| n.to_string()).map_err(std::io::Error::other),
            );
        }
        Err(e) => put("cap_eff", Err(e)),
    }
    for kind in ["net", "pid"] {
        let ns = std::fs::read_link(format!("/proc/self/ns/{kind}"))
            .map(|p| p.to_string_lossy().into_owned());
        put(&format!("{kind}_ns"), ns);
    }
    let mut tries = JoinSet::new();
    for (i, addr) in canaries.iter().copied().enumerate() {
        tries.spawn(async move { (i, addr, connect(addr).await) });
    }
    let mut results = tries.join_all().await;
    // In the order asked, whatever order they finished in.
    results.sort_by_key(|(i, _, _)| *i);
    for (_, addr, outcome) in results {
        lines.push(format!("canary={addr} {outcome}"));
    }
    lines.extend(unknown);
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Numeric entries of /proc: the processes this pid namespace shows.
fn processes() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc")?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count())
}

/// The hex value of the `CapEff:` line of a /proc/PID/status text.
pub fn cap_eff(status: &str) -> Option<String> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()?;
    Some(hex.to_string())
}

/// Could a TCP connection to `addr` be opened? Closed at once: nothing is sent.
async fn connect(addr: SocketAddr) -> &'static str {
    match tokio::time::timeout(CANARY_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => "connected",
        Err(_) => "timeout",
        Ok(Err(e)) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "refused",
            std::io::ErrorKind::TimedOut => "timeout",
            _ if matches!(
                e.raw_os_error(),
                Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
            ) =>
            {
                "unreachable"
            }
            _ => "error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_get_of_the_path_is_the_probe() {
        assert!(wanted(&hyper::Method::GET, PATH));
        assert!(
            !wanted(&hyper::Method::POST, PATH),
            "a POST is an expression"
        );
        assert!(!wanted(&hyper::Method::GET, "/"));
    }

    #[test]
    fn canaries_parse_and_are_bounded() {
        assert_eq!(canaries(None).unwrap(), vec![]);
        let c = canaries(Some("canary=127.0.0.1:9,10.0.2.2:80")).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].to_string(), "10.0.2.2:80");
        assert!(canaries(Some("canary=host:80"))
            .unwrap_err()
            .contains("'host:80'"));
        assert!(canaries(Some("scan=1")).unwrap_err().contains("'scan'"));
        let many = ["127.0.0.1:1"; MAX_CANARIES + 1].join(",");
        assert!(canaries(Some(&format!("canary={many}"))).is_err());
    }

    #[test]
    fn cap_eff_is_read_from_status() {
        let status = "Name:\tx\nCapEff:\t00000000a80425fb\n";
        assert_eq!(cap_eff(status).as_deref(), Some("00000000a80425fb"));
        assert_eq!(cap_eff("Name: x\n"), None);
    }

    #[tokio::test]
    async fn answers_about_this_process_and_its_canaries() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let text = answer(&[open.local_addr().unwrap(), closed]).await;
        let get = |k: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .filter(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("pid"), [std::process::id().to_string()]);
        assert_eq!(get("boot_id")[0].len(), 36, "{text}");
        assert!(get("processes")[0].parse::<usize>().unwrap() >= 1);
        assert!(get("net_ns")[0].starts_with("net:["), "{text}");
        let canary = get("canary");
        assert_eq!(
            canary[0],
            format!("{} connected", open.local_addr().unwrap())
        );
        assert_eq!(canary[1], format!("{closed} refused"));
    }
}
