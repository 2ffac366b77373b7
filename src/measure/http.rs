//! One keep-alive HTTP/1.1 client connection (hyper 1 `http1::handshake` on a
//! `TcpStream`), shared by the readiness probe and the load generator. Both only ever
//! send `POST /` with a small text body and read the whole answer; the isolation facts
//! also `GET` the workload's `/virtbench/probe`.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, HOST};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP handshake with {addr}: {detail}")]
    Handshake { addr: SocketAddr, detail: String },
    /// The connection was closed before the request was written: nothing was sent, so
    /// the caller may reconnect and send again.
    #[error("connection to {addr} closed by the server")]
    Closed { addr: SocketAddr },
    #[error("request to {addr}: {detail}")]
    Request { addr: SocketAddr, detail: String },
    #[error("{what} {addr} timed out")]
    Timeout {
        addr: SocketAddr,
        what: &'static str,
    },
}

/// A complete answer: status and whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// "HTTP 500: \"division by zero\\n\"" — one line whatever the body holds.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut shown: String = text.chars().take(200).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        format!("HTTP {}: {:?}", self.status.as_u16(), shown)
    }
}

/// One open connection and the task that drives it.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A connection dropped after a timeout may still wait for its answer: stop it.
        self.driver.abort();
    }
}

/// A client for one address holding at most one keep-alive connection, re-established
/// on demand after the server closed it or an exchange failed.
pub struct Client {
    addr: SocketAddr,
    host: HeaderValue,
    conn: Option<Connection>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        let host = HeaderValue::from_str(&addr.to_string()).expect("socket address is ASCII");
        Client {
            addr,
            host,
            conn: None,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Open the connection now (if none is open), so that later requests don't pay for it.
    pub async fn connect(&mut self, deadline: Instant) -> Result<(), HttpError> {
        if self.conn.as_ref().is_some_and(|c| !c.sender.is_closed()) {
            return Ok(());
        }
        self.conn = None;
        let addr = self.addr;
        let stream = timeout_at(deadline, TcpStream::connect(addr))
            .await
            .map_err(|_| HttpError::Timeout {
                addr,
                what: "connect to",
            })?
            .map_err(|source| HttpError::Connect { addr, source })?;
        // Small requests: don't let Nagle hold them back.
        stream
            .set_nodelay(true)
            .map_err(|source| HttpError::Connect { addr, source })?;
        let (sender, conn) = timeout_at(
            deadline,
            hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        )
        .await
        .map_err(|_| HttpError::Timeout {
            addr,
            what: "HTTP handshake with",
        })?
        .map_err(|e| HttpError::Handshake {
            addr,
            detail: error_chain(&e),
        })?;
        let driver = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(%addr, error = %error_chain(&e), "connection ended");
            }
        });
        self.conn = Some(Connection { sender, driver });
        Ok(())
    }

    /// `POST /` with `body`; the whole answer must arrive before `deadline`. Connects
    /// first if needed; a connection the server closed is replaced once, transparently
    /// (nothing was sent on it). After any error the connection is dropped.
    pub async fn post(&mut self, body: Bytes, deadline: Instant) -> Result<Answer, HttpError> {
        self.send(Method::POST, "/", body, deadline).await
    }

    /// `GET path_and_query`, like [`Client::post`] otherwise.
    pub async fn get(
        &mut self,
        path_and_query: &str,
        deadline: Instant,
    ) -> Result<Answer, HttpError> {
        self.send(Method::GET, path_and_query, Bytes::new(), deadline)
            .await
    }

    async fn send(
        &mut self,
        method: Method,
        uri: &str,
        body: Bytes,
        deadline: Instant,
    ) -> Result<Answer, HttpError> {
        let mut retried = false;
        loop {
            self.connect(deadline).await?;
            let conn = self.conn.as_mut().expect("connected above");
            let req = Outgoing {
                method: method.clone(),
                uri,
                host: &self.host,
                body: body.clone(),
            };
            match exchange(conn, self.addr, req, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(HttpError::Closed { .. }) if !retried => {
                    retried = true;
                    self.conn = None;
                }
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            }
        }
    }
}

/// What one exchange sends.
struct Outgoing<'a> {
    method: Method,
    uri: &'a str,
    host: &'a HeaderValue,
    body: Bytes,
}

async fn exchange(
    conn: &mut Connection,
    addr: SocketAddr,
    out: Outgoing<'_>,
    deadline: Instant,
) -> Result<Answer, HttpError> {
    let work = async {
        // `ready` fails when the server announced or performed a close: nothing sent.
        conn.sender
            .ready()
            .await
            .map_err(|_| HttpError::Closed { addr })?;
        let mut req = hyper::Request::new(Full::new(out.body));
        *req.method_mut() = out.method;
        *req.uri_mut() = out.uri.parse().map_err(|e| HttpError::Request {
            addr,
            detail: format!("'{}': {e}", out.uri),
        })?;
        req.headers_mut().insert(HOST, out.host.clone());
        let resp = conn
            .sender
            .send_request(req)
            .await
            .map_err(|e| HttpError::Request {
                addr,
                detail: error_chain(&e),
            })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| HttpError::Request {
                addr,
                detail: error_chain(&e),
            })?
            .to_bytes();
        Ok(Answer { status, body })
    };
    timeout_at(deadline, work)
        .await
        .map_err(|_| HttpError::Timeout {
            addr,
            what: "request to",
        })?
}

/// "connection closed before message completed: Connection reset by peer": hyper's
/// top-level messages are terse, the cause is in the source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
