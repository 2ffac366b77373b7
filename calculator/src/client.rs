//! The calculator's side of the sub-services: where they are ([`Peers`]) and a
//! keep-alive HTTP client that calls them with a deadline ([`SubServices`]).
//!
//! This differs from the course lab on purpose: the lab (Node.js, `sync-request`) opened
//! a new blocking connection for every operator. Here each sub-service is reached over a
//! pool of keep-alive connections (TCP_NODELAY on), so that a benchmark measures the
//! platform's network path and scheduling, not the cost of TCP handshakes and
//! connection teardown repeated per operator.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::expr::{format_number, parse_number, Op};

/// Default time a sub-service gets to answer one operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest sub-service answer read (an answer is one number).
const MAX_ANSWER: usize = 4 * 1024;

/// One sub-service address: an IP literal (no DNS: the static binary has no NSS), e.g.
/// `10.0.0.5:50001` or `http://10.0.0.5:50001`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    uri: Uri,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        let uri = format!("http://{addr}/")
            .parse()
            .expect("a socket address always makes a valid URI");
        Peer { uri }
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.uri)
    }
}

/// Why a peer address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError(pub String);

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerError {}

impl FromStr for Peer {
    type Err = PeerError;

    /// `IP:PORT`, `[IPv6]:PORT`, `http://IP[:PORT][/path]`; `localhost` means 127.0.0.1.
    fn from_str(s: &str) -> Result<Peer, PeerError> {
        let bad = |why: &str| PeerError(format!("'{s}' {why}"));
        let s = s.trim();
        if let Ok(addr) = s.parse::<SocketAddr>() {
            if addr.port() == 0 {
                return Err(bad("has port 0"));
            }
            return Ok(Peer::new(addr));
        }
        let with_scheme = if s.contains("://") {
            s.to_string()
        } else {
            format!("http://{s}")
        };
        let uri: Uri = with_scheme
            .parse()
            .map_err(|_| bad("is not IP:PORT or an http://IP:PORT URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("is not an http:// URL (https is not supported)"));
        }
        let host = uri.host().unwrap_or("");
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| {
                    bad("needs an IP address, not a host name (the static binary does no DNS)")
                })?
        };
        let port = uri.port_u16().unwrap_or(80);
        if port == 0 {
            return Err(bad("has port 0"));
        }
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let uri = format!("http://{}{path}", SocketAddr::new(ip, port))
            .parse()
            .map_err(|_| bad("is not a valid URL"))?;
        Ok(Peer { uri })
    }
}

/// Where the four sub-services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    pub sum: Peer,
    pub sub: Peer,
    pub mul: Peer,
    pub div: Peer,
}

impl Default for Peers {
    /// The lab's layout: every sub-service on this host at ports 50001..50004.
    fn default() -> Peers {
        let at = |port| Peer::new(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
        Peers {
            sum: at(50001),
            sub: at(50002),
            mul: at(50003),
            div: at(50004),
        }
    }
}

impl Peers {
    pub fn get(&self, op: Op) -> &Peer {
        match op {
            Op::Add => &self.sum,
            Op::Sub => &self.sub,
            Op::Mul => &self.mul,
            Op::Div => &self.div,
        }
    }

    pub fn set(&mut self, op: Op, peer: Peer) {
        match op {
            Op::Add => self.sum = peer,
            Op::Sub => self.sub = peer,
            Op::Mul => self.mul = peer,
            Op::Div => self.div = peer,
        }
    }

    /// Override some peers from `sum=IP:PORT,sub=http://IP:PORT,...` (any subset, any
    /// order; the rest stay as they are). Handy for a kernel command line.
    pub fn apply_list(&mut self, list: &str) -> Result<(), PeerError> {
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, addr) = part.split_once('=').ok_or_else(|| {
                PeerError(format!(
                    "'{part}' is not NAME=ADDR (NAME: sum, sub, mul, div)"
                ))
            })?;
            let op = Op::ALL
                .into_iter()
                .find(|op| op.service() == name.trim())
                .ok_or_else(|| {
                    PeerError(format!(
                        "unknown sub-service '{}' (expected sum, sub, mul or div)",
                        name.trim()
                    ))
                })?;
            let peer = addr
                .parse()
                .map_err(|e: PeerError| PeerError(format!("{name}: {e}")))?;
            self.set(op, peer);
        }
        Ok(())
    }
}

impl FromStr for Peers {
    type Err = PeerError;

    /// `sum=IP:PORT,sub=...,...`; peers not named keep their defaults.
    fn from_str(s: &str) -> Result<Peers, PeerError> {
        let mut peers = Peers::default();
        peers.apply_list(s)?;
        Ok(peers)
    }
}

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sum={},sub={},mul={},div={}",
            self.sum, self.sub, self.mul, self.div
        )
    }
}

/// Why a sub-service call gave no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The sub-service refused the operation itself (422): division by zero, overflow.
    Arith { op: Op, reason: String },
    /// Unreachable, broken connection, a non-200 answer or an answer that is no number.
    Failed {
        op: Op,
        peer: String,
        reason: String,
    },
    /// No complete answer within the deadline.
    Timeout {
        op: Op,
        peer: String,
        after: Duration,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Arith { op, reason } => write!(f, "{} service: {reason}", op.service()),
            CallError::Failed { op, peer, reason } => {
                write!(f, "{} service at {peer} failed: {reason}", op.service())
            }
            CallError::Timeout { op, peer, after } => write!(
                f,
                "{} service at {peer} did not answer within {} ms",
                op.service(),
                after.as_millis()
            ),
        }
    }
}

impl std::error::Error for CallError {}

/// A pooled keep-alive HTTP client for the four sub-services.
#[derive(Clone)]
pub struct SubServices {
    client: Client<HttpConnector, Full<Bytes>>,
    peers: Peers,
    timeout: Duration,
}

impl SubServices {
    pub fn new(peers: Peers, timeout: Duration) -> SubServices {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        SubServices {
            client,
            peers,
            timeout,
        }
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// `a op b` by the operator's sub-service: `POST "a b"`, answer `"<number>\r\n"`.
    pub async fn apply(&self, op: Op, a: f64, b: f64) -> Result<f64, CallError> {
        let peer = self.peers.get(op);
        let failed = |reason: String| CallError::Failed {
            op,
            peer: peer.to_string(),
            reason,
        };
        let body = format!("{} {}", format_number(a), format_number(b));
        let req = Request::post(peer.uri().clone())
            .header(hyper::header::CONTENT_TYPE, "text/plain")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| failed(e.to_string()))?;
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| failed(chain(&e)))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| failed(format!("reading the answer: {}", chain(e.as_ref()))))?
                .to_bytes();
            Ok::<_, CallError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| CallError::Timeout {
                op,
                peer: peer.to_string(),
                after: self.timeout,
            })??;
        let text = String::from_utf8_lossy(&bytes);
        let first_line = first_line(&text);
        match status {
            StatusCode::OK => parse_number(first_line)
                .ok_or_else(|| failed(format!("answered {first_line:?}, not a number"))),
            StatusCode::UNPROCESSABLE_ENTITY => Err(CallError::Arith {
                op,
                reason: first_line.trim_start_matches("error: ").to_string(),
            }),
            other => Err(failed(format!("answered {other}: {first_line}"))),
        }
    }
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("").trim();
    // Keep an error message one short line even if a peer sends a page.
    match line.char_indices().nth(200) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// An error and its causes on one line: hyper's top-level errors alone say little
/// ("client error (Connect)"); the cause says "Connection refused".
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_forms() {
        let p = |s: &str| s.parse::<Peer>().map(|p| p.to_string());
        assert_eq!(p("10.0.0.5:50001").unwrap(), "http://10.0.0.5:50001/");
        assert_eq!(
            p("http://10.0.0.5:50001").unwrap(),
            "http://10.0.0.5:50001/"
        );
        assert_eq!(
            p("http://10.0.0.5:8080/sum").unwrap(),
            "http://10.0.0.5:8080/sum"
        );
        assert_eq!(p("http://10.0.0.5").unwrap(), "http://10.0.0.5:80/");
        assert_eq!(p("[::1]:50001").unwrap(), "http://[::1]:50001/");
        assert_eq!(p("http://[::1]:7").unwrap(), "http://[::1]:7/");
        assert_eq!(p("localhost:50001").unwrap(), "http://127.0.0.1:50001/");
        assert!(p("sum.internal:50001")
            .unwrap_err()
            .0
            .contains("not a host name"));
        assert!(p("https://10.0.0.5:1").unwrap_err().0.contains("https"));
        assert!(p("10.0.0.5:0").unwrap_err().0.contains("port 0"));
        assert!(p("").is_err());
    }

    #[test]
    fn peer_list() {
        let peers: Peers = "sum=10.0.0.2:1, div=http://10.0.0.3:2".parse().unwrap();
        assert_eq!(peers.sum.to_string(), "http://10.0.0.2:1/");
        assert_eq!(peers.sub, Peers::default().sub);
        assert_eq!(peers.div.to_string(), "http://10.0.0.3:2/");
        assert_eq!(peers.to_string().parse::<Peers>().unwrap(), peers);
        assert!("pow=1.2.3.4:5"
            .parse::<Peers>()
            .unwrap_err()
            .0
            .contains("unknown sub-service 'pow'"));
        assert!("sum".parse::<Peers>().unwrap_err().0.contains("NAME=ADDR"));
        assert!("sum=host:1"
            .parse::<Peers>()
            .unwrap_err()
            .0
            .starts_with("sum: 'host:1'"));
    }

    #[test]
    fn long_answers_are_cut() {
        assert_eq!(first_line("  12\r\nmore"), "12");
        assert_eq!(first_line(&"x".repeat(500)).len(), 200);
    }
}
