//! Instance metadata: the OpenStack way to hand a generic image its configuration
//! (`openstack server create --user-data FILE`). Plain HTTP/1.0, no client library:
//! PID 1 stays small and the exchange is one request.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const METADATA_ADDR: &str = "169.254.169.254:80";
pub const USER_DATA_PATH: &str = "/openstack/latest/user_data";

/// Split an HTTP/1.x response into status code and body.
pub fn parse_response(raw: &[u8]) -> Result<(u16, &[u8]), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in the metadata response")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "non-UTF-8 response headers")?;
    let status_line = head.lines().next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(format!("not an HTTP response: {status_line:?}"));
    }
    let code = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    Ok((code, &raw[end + 4..]))
}

fn get_once(addr: SocketAddr, path: &str) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {}\r\nUser-Agent: virtbench-init\r\n\r\n",
        addr.ip()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(raw)
}

/// Fetch the user data, retrying until `timeout` (the metadata service may answer
/// only a little after the network is up). `Ok(None)`: the instance has no user data.
pub fn user_data(timeout: Duration) -> Result<Option<String>, String> {
    let addr: SocketAddr = METADATA_ADDR.parse().expect("constant address");
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match get_once(addr, USER_DATA_PATH) {
            Ok(raw) => match parse_response(&raw)? {
                (200, body) => return Ok(Some(String::from_utf8_lossy(body).into_owned())),
                (404, _) => return Ok(None),
                (code, _) => last = format!("HTTP {code}"),
            },
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!(
        "metadata service {METADATA_ADDR} unreachable for {timeout:?} (last: {last})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ok_response() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nrole=sum\n";
        assert_eq!(parse_response(raw).unwrap(), (200, &b"role=sum\n"[..]));
    }

    #[test]
    fn parses_not_found() {
        let raw = b"HTTP/1.0 404 Not Found\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().0, 404);
    }

    #[test]
    fn rejects_non_http() {
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
