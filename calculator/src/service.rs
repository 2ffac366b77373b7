//! The five HTTP services (HTTP/1.1, hyper) with the lab's contract: method and path
//! are ignored, an empty body gets an empty 200, the calculator answers `result = X\r\n`
//! and a sub-service answers `X\r\n` to `a b`. Unlike the lab, bad input and failing
//! sub-services get a status and a one-line reason (`error: ...\r\n`):
//!
//! | status | when |
//! |---|---|
//! | 400 | malformed expression or operands, body not UTF-8 |
//! | 408 | the request body did not arrive within 30 s |
//! | 413 | body over [`MAX_BODY`] bytes |
//! | 422 | division by zero, result not finite |
//! | 502 | a sub-service unreachable, failing or answering nonsense (named) |
//! | 504 | a sub-service did not answer within the timeout (named) |
//!
//! One request is not the lab's: `GET /virtbench/probe` answers what the service sees
//! of the machine it runs on ([`crate::probe`]); a POST to that path is an expression.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::client::{CallError, Peer, Peers, SubServices};
use crate::expr::{self, ExprError, Op};
use crate::probe;

/// Largest request body accepted (an expression or two numbers need far less).
pub const MAX_BODY: usize = 64 * 1024;
/// Oversized bodies up to this size are read and discarded so that the client gets its
/// 413 on an orderly connection (closing with unread data would reset it instead).
const DRAIN_MAX: u64 = 1024 * 1024;
/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which service a process (or the appliance) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Calculator,
    Sum,
    Sub,
    Mul,
    Div,
    /// The five in one process; the calculator uses the four over loopback.
    All,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Calculator,
        Role::Sum,
        Role::Sub,
        Role::Mul,
        Role::Div,
        Role::All,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Calculator => "calculator",
            Role::Sum => "sum",
            Role::Sub => "sub",
            Role::Mul => "mul",
            Role::Div => "div",
            Role::All => "all",
        }
    }

    /// The lab's port: 50000 for the calculator (and `all`), 50001..50004 for the rest.
    pub fn default_port(self) -> u16 {
        match self {
            Role::Calculator | Role::All => 50000,
            Role::Sum => 50001,
            Role::Sub => 50002,
            Role::Mul => 50003,
            Role::Div => 50004,
        }
    }

    /// `0.0.0.0:<default port>`.
    pub fn default_listen(self) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), self.default_port())
    }

    /// The operator a sub-service applies.
    pub fn op(self) -> Option<Op> {
        match self {
            Role::Sum => Some(Op::Add),
            Role::Sub => Some(Op::Sub),
            Role::Mul => Some(Op::Mul),
            Role::Div => Some(Op::Div),
            Role::Calculator | Role::All => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown role '{}' (expected calculator, sum, sub, mul, div or all)",
            self.0
        )
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Bind `listen` and serve `role` until a fatal error (it does not return otherwise).
/// `peers` and `timeout` matter to the calculator (for `all`, only `timeout`).
pub async fn serve(
    role: Role,
    listen: SocketAddr,
    peers: Peers,
    timeout: Duration,
) -> io::Result<()> {
    let listener = bind(listen).await?;
    serve_on(role, listener, peers, timeout).await
}

/// [`serve`] on a listener bound by the caller (e.g. to `127.0.0.1:0`).
pub async fn serve_on(
    role: Role,
    listener: TcpListener,
    peers: Peers,
    timeout: Duration,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let handler = match (role, role.op()) {
        (Role::All, _) => return serve_all_on(listener, timeout).await,
        (_, Some(op)) => {
            eprintln!("calculator: {role} listening on {addr}");
            Handler::Arith(op)
        }
        _ => {
            eprintln!("calculator: calculator listening on {addr} ({peers})");
            Handler::Calculator(Box::new(SubServices::new(peers, timeout)))
        }
    };
    accept_loop(listener, handler).await
}

/// The five services in one process: the calculator on `listen`, the four sub-services
/// on loopback ports chosen by the kernel (only the calculator is meant to be reached).
pub async fn serve_all(listen: SocketAddr, timeout: Duration) -> io::Result<()> {
    let listener = bind(listen).await?;
    serve_all_on(listener, timeout).await
}

/// [`serve_all`] on a listener bound by the caller.
pub async fn serve_all_on(listener: TcpListener, timeout: Duration) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let mut peers = Peers::default();
    // Dropping the set (e.g. on shutdown) stops every server it holds.
    let mut servers = JoinSet::new();
    for op in Op::ALL {
        let sub = bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).await?;
        peers.set(op, Peer::new(sub.local_addr()?));
        servers.spawn(accept_loop(sub, Handler::Arith(op)));
    }
    eprintln!("calculator: all listening on {addr} ({peers})");
    servers.spawn(accept_loop(
        listener,
        Handler::Calculator(Box::new(SubServices::new(peers, timeout))),
    ));
    match servers.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(io::Error::other(format!("a service task ended: {e}"))),
        None => Ok(()),
    }
}

/// The runtime a service process runs on: one thread by default (five of these run per
/// deployment and each should stay light), `threads` workers when asked for more.
pub fn runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

enum Handler {
    Calculator(Box<SubServices>),
    Arith(Op),
}

async fn accept_loop(listener: TcpListener, handler: Handler) -> io::Result<()> {
    let handler = Arc::new(handler);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, aborted handshakes...: transient for a listener;
                // back off instead of spinning or dying.
                eprintln!("calculator: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler.handle(req).await) }
            });
            // A client that goes away mid-request is its own business: nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Handler {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if probe::wanted(req.method(), req.uri().path()) {
            return match probe::canaries(req.uri().query()) {
                Ok(canaries) => respond(StatusCode::OK, probe::answer(&canaries).await),
                Err(e) => failure(StatusCode::BAD_REQUEST, &e),
            };
        }
        let body = match read_body(req.into_body()).await {
            Ok(body) => body,
            Err(e) => return e.response(),
        };
        if body.is_empty() {
            // The lab's answer to an empty body.
            return respond(StatusCode::OK, String::new());
        }
        let Ok(text) = std::str::from_utf8(&body) else {
            return failure(StatusCode::BAD_REQUEST, "body is not UTF-8 text");
        };
        match self {
            Handler::Arith(op) => arith(*op, text),
            Handler::Calculator(subs) => match calculate(subs, text).await {
                Ok(value) => respond(StatusCode::OK, expr::response_body(value)),
                Err(e) => failure(e.status(), &e.to_string()),
            },
        }
    }
}

/// A sub-service: `a b` -> `a op b`.
fn arith(op: Op, text: &str) -> Response<Full<Bytes>> {
    let mut parts = text.split_whitespace();
    // The same number format as the calculator's expressions, exponents included.
    let operands = match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => expr::parse_number(a).zip(expr::parse_number(b)),
        _ => None,
    };
    let Some((a, b)) = operands else {
        let shown: String = text.trim().chars().take(60).collect();
        return failure(
            StatusCode::BAD_REQUEST,
            &format!("expected two numbers 'a b', got {shown:?}"),
        );
    };
    match op.apply(a, b) {
        Ok(v) => respond(StatusCode::OK, format!("{}\r\n", expr::format_number(v))),
        Err(e) => failure(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

#[derive(Debug)]
enum CalcError {
    Expr(ExprError),
    Call(CallError),
}

impl From<ExprError> for CalcError {
    fn from(e: ExprError) -> Self {
        CalcError::Expr(e)
    }
}

impl CalcError {
    fn status(&self) -> StatusCode {
        match self {
            CalcError::Expr(_) => StatusCode::BAD_REQUEST,
            CalcError::Call(CallError::Arith { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            CalcError::Call(CallError::Failed { .. }) => StatusCode::BAD_GATEWAY,
            CalcError::Call(CallError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalcError::Expr(e) => write!(f, "malformed expression: {e}"),
            CalcError::Call(e) => e.fmt(f),
        }
    }
}

/// The calculator: parse, then one sub-service call per operator in postfix order.
async fn calculate(subs: &SubServices, text: &str) -> Result<f64, CalcError> {
    let postfix = expr::parse(text)?;
    expr::evaluate(&postfix, |op, a, b| async move {
        subs.apply(op, a, b).await.map_err(CalcError::Call)
    })
    .await
}

/// Why a request body was not read.
enum BodyError {
    TooLarge,
    Read(hyper::Error),
    Timeout,
}

impl BodyError {
    fn response(&self) -> Response<Full<Bytes>> {
        match self {
            BodyError::TooLarge => failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body larger than {MAX_BODY} bytes"),
            ),
            BodyError::Read(e) => {
                failure(StatusCode::BAD_REQUEST, &format!("reading the body: {e}"))
            }
            BodyError::Timeout => failure(
                StatusCode::REQUEST_TIMEOUT,
                &format!("body not received within {} s", BODY_TIMEOUT.as_secs()),
            ),
        }
    }
}

/// Read the whole body, at most [`MAX_BODY`] bytes.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, BodyError> {
    if body.size_hint().lower() > DRAIN_MAX {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut buf = Vec::new();
        let mut total = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(BodyError::Read)?.into_data() {
                total += data.len() as u64;
                if total <= MAX_BODY as u64 {
                    buf.extend_from_slice(&data);
                } else if total > DRAIN_MAX {
                    return Err(BodyError::TooLarge);
                }
            }
        }
        if total > MAX_BODY as u64 {
            return Err(BodyError::TooLarge);
        }
        Ok(buf)
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    resp
}

fn failure(status: StatusCode, reason: &str) -> Response<Full<Bytes>> {
    // One line, whatever the reason quoted.
    let reason = reason.replace(['\r', '\n'], " ");
    respond(status, format!("error: {reason}\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print() {
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>().unwrap(), role);
        }
        assert_eq!(Role::Div.default_listen().to_string(), "0.0.0.0:50004");
        assert_eq!(Role::All.default_port(), 50000);
        assert!("init"
            .parse::<Role>()
            .unwrap_err()
            .to_string()
            .contains("'init'"));
    }

    async fn body_of(resp: Response<Full<Bytes>>) -> (u16, String) {
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn sub_service_bodies() {
        let cases = [
            (Op::Add, "2 3", 200, "5\r\n"),
            (Op::Sub, "2 3", 200, "-1\r\n"),
            (Op::Mul, "-2.5 4", 200, "-10\r\n"),
            (Op::Div, "7 2", 200, "3.5\r\n"),
            (Op::Div, "1e+21 10", 200, "100000000000000000000\r\n"),
            (Op::Add, " 1  2\r\n", 200, "3\r\n"),
            (Op::Add, "1e3 1", 200, "1001\r\n"),
            (Op::Mul, "2.5E-3 4", 200, "0.01\r\n"),
            (Op::Sub, "1e+2 -1e-1", 200, "100.1\r\n"),
            (Op::Div, "1 0", 422, "error: division by zero\r\n"),
            (
                Op::Mul,
                "1e308 10",
                422,
                "error: result is not a finite number\r\n",
            ),
            (
                Op::Add,
                "1",
                400,
                "error: expected two numbers 'a b', got \"1\"\r\n",
            ),
            (
                Op::Add,
                "1 2 3",
                400,
                "error: expected two numbers 'a b', got \"1 2 3\"\r\n",
            ),
            (
                Op::Add,
                "1 x",
                400,
                "error: expected two numbers 'a b', got \"1 x\"\r\n",
            ),
            (
                Op::Add,
                "1e 2",
                400,
                "error: expected two numbers 'a b', got \"1e 2\"\r\n",
            ),
            (
                Op::Add,
                "inf 1",
                400,
                "error: expected two numbers 'a b', got \"inf 1\"\r\n",
            ),
        ];
        for (op, body, status, answer) in cases {
            assert_eq!(
                body_of(arith(op, body)).await,
                (status, answer.to_string()),
                "{op:?} {body:?}"
            );
        }
    }
}
