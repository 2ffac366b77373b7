//! Running a host command to completion for its output: the network set-up of the
//! harness (`ip`, `iptables`) and of platforms that have no library to ask.

use std::process::Stdio;

use tokio::process::Command;

use crate::error::Error;

/// A veth pair: `host_if` stays on the host, `peer` goes into network namespace `netns`.
pub async fn add_veth(host_if: &str, peer: &str, netns: &str) -> Result<(), Error> {
    let args = [
        "link", "add", host_if, "type", "veth", "peer", "name", peer, "netns", netns,
    ];
    run("ip", &args).await.map(drop)
}

/// Run `program args...` with no input; its stdout when it succeeds, else an error
/// naming the command and its stderr.
pub async fn run(program: &str, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(Error::io(format!("running {program} {}", args.join(" "))))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
