//! The calculator's HTTP contract over real loopback HTTP: the five services run in
//! this process on `127.0.0.1:0`, requests go through the kernel's TCP stack.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use calculator::{serve_all_on, serve_on, Peer, Peers, Role};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Generous: only there so that a hang fails the test instead of blocking it.
const DEADLINE: Duration = Duration::from_secs(30);

async fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn spawn(role: Role, peers: Peers, timeout: Duration) -> SocketAddr {
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(role, listener, peers, timeout));
    addr
}

/// The four sub-services, each a server of its own.
async fn sub_services() -> Peers {
    let mut peers = Peers::default();
    for (role, op) in [Role::Sum, Role::Sub, Role::Mul, Role::Div]
        .into_iter()
        .zip(calculator::expr::Op::ALL)
    {
        peers.set(
            op,
            Peer::new(spawn(role, Peers::default(), Duration::from_secs(2)).await),
        );
    }
    peers
}

/// The distributed lab layout: five servers, the calculator wired to the four.
async fn lab() -> SocketAddr {
    let peers = sub_services().await;
    spawn(Role::Calculator, peers, Duration::from_secs(2)).await
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

async fn request(
    method: Method,
    addr: SocketAddr,
    path: &str,
    body: impl Into<Bytes>,
) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(body.into()))
        .unwrap();
    let call = async {
        let resp = client().request(req).await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            String::from_utf8(body.to_vec()).expect("UTF-8 body"),
        )
    };
    tokio::time::timeout(DEADLINE, call)
        .await
        .expect("an answer before the deadline")
}

async fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    request(Method::POST, addr, "/", body.to_string()).await
}

fn ok(result: &str) -> (u16, String) {
    (200, format!("result = {result}\r\n"))
}

#[tokio::test]
async fn the_labs_example() {
    let calc = lab().await;
    assert_eq!(post(calc, "(5+3)/2").await, ok("4"));
}

#[tokio::test]
async fn arithmetic_over_the_sub_services() {
    let calc = lab().await;
    let cases = [
        ("1+2*3", "7"),
        ("2*3+1", "7"),
        ("(1+2)*3", "9"),
        ("8-3-2", "3"),
        ("16/4/2", "2"),
        ("8/2*4", "16"),
        ("2*(3+(4-1))*5", "60"),
        ("((7))", "7"),
        ("1.5*4", "6"),
        ("0.1+0.2", "0.30000000000000004"),
        ("7/2", "3.5"),
        ("3-10", "-7"),
        ("(3-10)*2-1", "-15"),
        ("1-5+2", "-2"),
        ("-(1+2)*3", "-9"),
        ("2*-3", "-6"),
        ("  ( 5 + 3 ) / 2 \n", "4"),
        ("42", "42"),
        ("0*-5", "0"),
    ];
    answers_agree(calc, &cases).await;
}

/// Each expression answers `want` over the services, and the local evaluation (where the
/// harness's expected answers come from) agrees.
async fn answers_agree(calc: SocketAddr, cases: &[(&str, &str)]) {
    for &(expr, want) in cases {
        assert_eq!(post(calc, expr).await, ok(want), "{expr}");
        let local = calculator::expr::evaluate_local(expr).unwrap();
        assert_eq!(
            calculator::expr::response_body(local),
            ok(want).1,
            "{expr} locally"
        );
    }
}

#[tokio::test]
async fn exponent_notation_as_in_the_lab() {
    // The lab's services read numbers with JavaScript's `parseFloat`: `1e3+1` answered
    // `result = 1001` there, and must here, over the four sub-services.
    let calc = lab().await;
    answers_agree(
        calc,
        &[
            ("1e3+1", "1001"),
            ("2.5E-3*4", "0.01"),
            ("1e+2-1", "99"),
            ("-1e3/8", "-125"),
            ("1e21*1", "1e+21"),
            ("1e-7+0", "1e-7"),
        ],
    )
    .await;
    // A number is read whole: an incomplete exponent is refused, not read as `1`.
    assert_eq!(
        post(calc, "1e+1").await,
        ok("10"),
        "the exponent's sign is the number's"
    );
    assert_eq!(
        post(calc, "1e+").await,
        (
            400,
            "error: malformed expression: malformed number '1e+' at column 1\r\n".into()
        )
    );
}

#[tokio::test]
async fn all_in_one_process() {
    let listener = loopback().await;
    let calc = listener.local_addr().unwrap();
    tokio::spawn(serve_all_on(listener, Duration::from_secs(2)));
    assert_eq!(post(calc, "(5+3)/2").await, ok("4"));
    assert_eq!(post(calc, "8-3-2").await, ok("3"));
    assert_eq!(post(calc, "1/0").await.0, 422);
}

#[tokio::test]
async fn sub_service_bodies() {
    let peers = sub_services().await;
    let at = |p: &Peer| -> SocketAddr { p.uri().authority().unwrap().as_str().parse().unwrap() };
    assert_eq!(post(at(&peers.sum), "2 3").await, (200, "5\r\n".into()));
    assert_eq!(post(at(&peers.sub), "2 3").await, (200, "-1\r\n".into()));
    assert_eq!(
        post(at(&peers.mul), "2.5 -4").await,
        (200, "-10\r\n".into())
    );
    assert_eq!(post(at(&peers.div), "7 2").await, (200, "3.5\r\n".into()));
    assert_eq!(
        post(at(&peers.sum), "1e3 1").await,
        (200, "1001\r\n".into())
    );
    assert_eq!(
        post(at(&peers.div), "1 0").await,
        (422, "error: division by zero\r\n".into())
    );
    assert_eq!(post(at(&peers.sum), "").await, (200, String::new()));
    let (status, body) = post(at(&peers.sum), "2 plus 3").await;
    assert_eq!(status, 400);
    assert!(body.starts_with("error: expected two numbers"), "{body}");
}

#[tokio::test]
async fn method_and_path_are_ignored() {
    let calc = lab().await;
    for (method, path) in [
        (Method::POST, "/"),
        (Method::PUT, "/calc"),
        (Method::GET, "/any/path?x=1"),
        (Method::PATCH, "/"),
        (Method::from_bytes(b"CALC").unwrap(), "/x"),
    ] {
        assert_eq!(
            request(method.clone(), calc, path, "(5+3)/2").await,
            ok("4"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn empty_body_gets_an_empty_200() {
    let calc = lab().await;
    assert_eq!(post(calc, "").await, (200, String::new()));
    assert_eq!(
        request(Method::GET, calc, "/", "").await,
        (200, String::new())
    );
}

#[tokio::test]
async fn malformed_expressions_are_400_with_a_reason() {
    let calc = lab().await;
    for (expr, reason) in [
        (
            "1+",
            "expression ends without a number after its last operator",
        ),
        ("(1+2", "unmatched '(' at column 1"),
        ("1+2)", "unmatched ')' at column 4"),
        ("2 3", "missing operator before the number at column 3"),
        ("*2", "expected a number before '*' at column 1"),
        ("2^3", "unexpected character '^' at column 2"),
        ("1.2.3+1", "malformed number '1.2.3' at column 1"),
        ("2*1e", "malformed number '1e' at column 3"),
        ("hello", "unexpected character 'h' at column 1"),
        ("   ", "empty expression"),
    ] {
        assert_eq!(
            post(calc, expr).await,
            (400, format!("error: malformed expression: {reason}\r\n")),
            "{expr:?}"
        );
    }
    let (status, body) = request(Method::POST, calc, "/", vec![0xff, 0xfe, b'1']).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "error: body is not UTF-8 text\r\n")
    );
}

#[tokio::test]
async fn division_by_zero_is_422() {
    let calc = lab().await;
    assert_eq!(
        post(calc, "1/0").await,
        (422, "error: div service: division by zero\r\n".into())
    );
    assert_eq!(
        post(calc, "5/(2-2)").await,
        (422, "error: div service: division by zero\r\n".into())
    );
    let huge = format!("{0}*{0}", "9".repeat(200));
    assert_eq!(
        post(calc, &huge).await,
        (
            422,
            "error: mul service: result is not a finite number\r\n".into()
        )
    );
}

#[tokio::test]
async fn unreachable_sub_service_is_502_naming_it() {
    let mut peers = sub_services().await;
    // A port that nothing listens on any more.
    let gone = loopback().await.local_addr().unwrap();
    peers.set(calculator::expr::Op::Mul, Peer::new(gone));
    let calc = spawn(Role::Calculator, peers, Duration::from_secs(2)).await;
    let (status, body) = post(calc, "2*3").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.starts_with(&format!("error: mul service at http://{gone}/ failed: ")),
        "{body}"
    );
    assert!(body.to_lowercase().contains("refused"), "{body}");
    assert_eq!(body.lines().count(), 1, "{body}");
    // Operators that do not need it still work.
    assert_eq!(post(calc, "2+3").await, ok("5"));
}

/// A loopback server that accepts connections and never answers.
async fn silent_server() -> SocketAddr {
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// A loopback server that sends `response` to every connection, whatever it got.
async fn canned_server(response: &'static str) -> SocketAddr {
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn stalled_sub_service_is_504_not_a_hang() {
    let mut peers = sub_services().await;
    let stalled = silent_server().await;
    peers.set(calculator::expr::Op::Add, Peer::new(stalled));
    let calc = spawn(Role::Calculator, peers, Duration::from_millis(300)).await;
    assert_eq!(
        post(calc, "1+1").await,
        (
            504,
            format!("error: sum service at http://{stalled}/ did not answer within 300 ms\r\n")
        )
    );
    // Still serving afterwards.
    assert_eq!(post(calc, "2*3").await, ok("6"));
}

#[tokio::test]
async fn failing_sub_services_are_502() {
    for (response, reason) in [
        (
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops\n",
            "answered 500 Internal Server Error: oops",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "answered \"hello\", not a number",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nInfinity",
            "answered \"Infinity\", not a number",
        ),
        ("this is not HTTP\r\n\r\n", ""),
        ("", ""),
    ] {
        let mut peers = sub_services().await;
        let bad = canned_server(response).await;
        peers.set(calculator::expr::Op::Sub, Peer::new(bad));
        let calc = spawn(Role::Calculator, peers, Duration::from_secs(2)).await;
        let (status, body) = post(calc, "(1+2)-3").await;
        assert_eq!(status, 502, "{response:?}: {body}");
        let prefix = format!("error: sub service at http://{bad}/ failed: {reason}");
        assert!(body.starts_with(&prefix), "{response:?}: {body}");
        assert!(
            body.ends_with("\r\n") && body.lines().count() == 1,
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let calc = lab().await;
    // Exactly the limit is fine.
    let mut fits = "1+1".to_string();
    fits.push_str(&" ".repeat(calculator::MAX_BODY - fits.len()));
    assert_eq!(post(calc, &fits).await, ok("2"));
    // One byte over is not, with and without a Content-Length.
    let over = format!("{fits} ");
    assert_eq!(
        post(calc, &over).await,
        (
            413,
            format!("error: body larger than {} bytes\r\n", calculator::MAX_BODY)
        )
    );
    let (status, _) = raw_chunked(calc, over.as_bytes()).await;
    assert_eq!(status, 413);
    // Far over: the server may cut the connection instead of draining it; it must
    // answer 413 or close, and keep serving.
    let req = Request::post(format!("http://{calc}/"))
        .body(Full::new(Bytes::from(vec![b' '; 4 << 20])))
        .unwrap();
    if let Ok(Ok(resp)) = tokio::time::timeout(DEADLINE, client().request(req)).await {
        assert_eq!(resp.status().as_u16(), 413);
    }
    assert_eq!(post(calc, "(5+3)/2").await, ok("4"));
}

/// A chunked request over a raw socket; returns the status code and the raw response.
async fn raw_chunked(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for chunk in body.chunks(8192) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let io = async {
        stream.write_all(&req).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).to_string()
    };
    let text = tokio::time::timeout(DEADLINE, io)
        .await
        .expect("an answer before the deadline");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn curl_style_request_on_the_wire() {
    // What `curl -d "(5+3)/2" http://HOST:50000/` sends.
    let calc = lab().await;
    let mut stream = TcpStream::connect(calc).await.unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\
              Content-Length: 7\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Connection: close\r\n\r\n(5+3)/2",
        )
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, stream.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.to_lowercase().contains("content-type: text/plain\r\n"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nresult = 4\r\n"), "{out}");
}

/// A TCP relay in front of a service that counts the connections it is asked for.
async fn counting_relay(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn sub_service_connections_are_kept_alive() {
    let mut peers = sub_services().await;
    let sum = peers
        .sum
        .uri()
        .authority()
        .unwrap()
        .as_str()
        .parse()
        .unwrap();
    let (relay, connections) = counting_relay(sum).await;
    peers.set(calculator::expr::Op::Add, Peer::new(relay));
    let calc = spawn(Role::Calculator, peers, Duration::from_secs(2)).await;
    // Sequential requests, four additions each: the lab would open 80 connections.
    for _ in 0..20 {
        assert_eq!(post(calc, "1+1+1+1+1").await, ok("5"));
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_requests_all_correct() {
    let calc = lab().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64u32 {
        tasks.spawn(async move {
            let expr = format!("({i}+3)*2-{i}");
            (post(calc, &expr).await, ok(&(i + 6).to_string()))
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (got, want) = done.unwrap();
        assert_eq!(got, want);
    }
}
