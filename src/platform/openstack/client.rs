//! A thin authenticated HTTP client for one cloud: Keystone token, endpoints from the
//! catalog, JSON in and out, re-authentication on a 401 (a token expired mid-run), and
//! errors carrying the cloud's own message on one line. Our own rather than an SDK so
//! every call is a single, timed HTTP request (logged at debug level with its time).
//!
//! Neither the password nor the token can reach an error: request bodies are never
//! quoted, and every message taken from a response is scrubbed of both.

use std::time::{Duration, Instant};

use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use tokio::sync::RwLock;

use super::auth::{self, Session};
use super::clouds::{CloudConfig, CloudsError};
use super::retry;
use super::secret::{Secret, REDACTED};

/// The compute microversion every Nova call asks for: 2.52 is the first with tags on
/// server create (Queens, 2018), so any cloud still running answers it.
pub const COMPUTE_MICROVERSION: &str = "2.52";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Identity,
    Compute,
    Image,
    Network,
}

impl Service {
    fn kind(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Compute => "compute",
            Service::Image => "image",
            Service::Network => "network",
        }
    }

    /// The project's name, as the cloud's operators know it.
    pub fn label(self) -> &'static str {
        match self {
            Service::Identity => "keystone",
            Service::Compute => "nova",
            Service::Image => "glance",
            Service::Network => "neutron",
        }
    }

    /// The API version path our calls are written against, appended to a catalog URL
    /// that lacks it (Glance and Neutron usually list the bare root).
    fn version(self) -> Option<&'static str> {
        match self {
            Service::Image => Some("/v2"),
            Service::Network => Some("/v2.0"),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The cloud answered with an error: its own message, on one line.
    #[error("{cloud}: {service} {method} {path}: {status}: {message}")]
    Status {
        cloud: String,
        service: &'static str,
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    /// No answer at all (refused, timed out, TLS...).
    #[error("{cloud}: {service} {method} {path}: {detail}")]
    Transport {
        cloud: String,
        service: &'static str,
        method: Method,
        path: String,
        detail: String,
    },
    #[error("{cloud}: the catalog has no {kind} endpoint with interface {interface}{}", .region.as_ref().map(|r| format!(" in region {r}")).unwrap_or_default())]
    NoEndpoint {
        cloud: String,
        kind: &'static str,
        interface: String,
        region: Option<String>,
    },
    #[error("{0}")]
    Clouds(#[from] CloudsError),
    #[error("{cloud}: {what}")]
    Unexpected { cloud: String, what: String },
}

impl ApiError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The cloud could not be reached (as opposed to: it answered no).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ApiError::Transport { .. })
    }
}

/// Request body kinds.
#[derive(Clone)]
pub enum Body {
    Empty,
    Json(Value),
    Octets(bytes::Bytes),
}

struct Authed {
    session: Session,
    region: Option<String>,
    compute: String,
    image: String,
    network: String,
}

pub struct Client {
    http: reqwest::Client,
    pub cloud: CloudConfig,
    authed: RwLock<Authed>,
    /// Neutron's extension aliases, read once (what the cloud's Neutron can do).
    neutron_extensions: tokio::sync::OnceCell<Vec<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("cloud", &self.cloud.name)
            .field("auth_url", &self.cloud.auth_url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Authenticate and resolve the endpoints; `timeout` bounds every request.
    pub async fn connect(cloud: CloudConfig, timeout: Duration) -> Result<Client, ApiError> {
        let http = super::tls::http_client(&cloud, timeout).map_err(|e| ApiError::Unexpected {
            cloud: cloud.name.clone(),
            what: e.to_string(),
        })?;
        for w in cloud.transport_warnings() {
            tracing::warn!("{w}");
        }
        let authed = authenticate(&http, &cloud).await?;
        Ok(Client {
            http,
            cloud,
            authed: RwLock::new(authed),
            neutron_extensions: tokio::sync::OnceCell::new(),
        })
    }

    /// Does this cloud's Neutron have the extension `alias` (e.g. `tag-creation`)? An
    /// unreadable list counts as no: the caller then takes the older way.
    pub async fn neutron_extension(&self, alias: &str) -> bool {
        self.neutron_extensions
            .get_or_init(|| async {
                match self.get(Service::Network, "/extensions").await {
                    Ok(v) => v["extensions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e["alias"].as_str().map(str::to_string))
                        .collect(),
                    Err(e) => {
                        tracing::warn!("reading Neutron's extensions: {e}");
                        Vec::new()
                    }
                }
            })
            .await
            .iter()
            .any(|a| a == alias)
    }

    /// The region every service is used in: the configured one, else the one pinned
    /// from the catalog at authentication.
    pub async fn region(&self) -> Option<String> {
        self.authed.read().await.region.clone()
    }

    pub async fn session(&self) -> Session {
        self.authed.read().await.session.clone()
    }

    /// Endpoint URL (with API version) of a service, as used.
    pub async fn endpoint(&self, service: Service) -> String {
        let a = self.authed.read().await;
        match service {
            Service::Compute => a.compute.clone(),
            Service::Image => a.image.clone(),
            Service::Network => a.network.clone(),
            Service::Identity => self.cloud.auth_url.clone(),
        }
    }

    pub async fn get(&self, service: Service, path: &str) -> Result<Value, ApiError> {
        self.call(service, Method::GET, path, Body::Empty).await
    }

    pub async fn post(&self, service: Service, path: &str, body: Value) -> Result<Value, ApiError> {
        self.call(service, Method::POST, path, Body::Json(body))
            .await
    }

    pub async fn put(&self, service: Service, path: &str, body: Value) -> Result<Value, ApiError> {
        self.call(service, Method::PUT, path, Body::Json(body))
            .await
    }

    /// DELETE; a 404 counts as done (teardown is idempotent).
    pub async fn delete(&self, service: Service, path: &str) -> Result<bool, ApiError> {
        match self.call(service, Method::DELETE, path, Body::Empty).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One request, re-authenticating once if the token was refused.
    pub async fn call(
        &self,
        service: Service,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Value, ApiError> {
        let mut reauthed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (base, token) = {
                let a = self.authed.read().await;
                let base = match service {
                    Service::Compute => a.compute.clone(),
                    Service::Image => a.image.clone(),
                    Service::Network => a.network.clone(),
                    Service::Identity => self.cloud.auth_url.clone(),
                };
                (base, a.session.token.clone())
            };
            let mut req = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .header("X-Auth-Token", token.expose())
                .header(header::ACCEPT, "application/json");
            if service == Service::Compute {
                req = req
                    .header(
                        "OpenStack-API-Version",
                        format!("compute {COMPUTE_MICROVERSION}"),
                    )
                    .header("X-OpenStack-Nova-API-Version", COMPUTE_MICROVERSION);
            }
            req = match &body {
                Body::Empty => req,
                Body::Json(v) => req.json(v),
                Body::Octets(b) => req
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .body(b.clone()),
            };
            let t = Instant::now();
            let resp = req.send().await.map_err(|e| ApiError::Transport {
                cloud: self.cloud.name.clone(),
                service: service.label(),
                method: method.clone(),
                path: path.into(),
                detail: self.scrub(&transport_detail(&e, &self.cloud), &token),
            })?;
            let status = resp.status();
            let wait = retry::POLICY.delay(
                &method,
                status,
                attempt,
                retry::retry_after(
                    resp.headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()),
                ),
            );
            if let Some(wait) = wait {
                tracing::info!(
                    service = service.label(),
                    %method,
                    path,
                    status = status.as_u16(),
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "openstack call refused for now: trying again"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            tracing::debug!(
                service = service.label(),
                %method,
                path,
                status = status.as_u16(),
                ms = t.elapsed().as_secs_f64() * 1000.0,
                "openstack call"
            );
            if status == StatusCode::UNAUTHORIZED && !reauthed && service != Service::Identity {
                tracing::info!(cloud = %self.cloud.name, "token refused (401): authenticating again");
                let fresh = authenticate(&self.http, &self.cloud).await?;
                *self.authed.write().await = fresh;
                reauthed = true;
                continue;
            }
            let text = resp.text().await.map_err(|e| ApiError::Transport {
                cloud: self.cloud.name.clone(),
                service: service.label(),
                method: method.clone(),
                path: path.into(),
                detail: self.scrub(&error_chain(&e), &token),
            })?;
            if !status.is_success() {
                return Err(ApiError::Status {
                    cloud: self.cloud.name.clone(),
                    service: service.label(),
                    method,
                    path: path.into(),
                    status,
                    message: self.scrub(&cloud_message(&text), &token),
                });
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| ApiError::Unexpected {
                cloud: self.cloud.name.clone(),
                what: format!(
                    "{} {method} {path}: answer is not JSON: {e}",
                    service.label()
                ),
            });
        }
    }

    /// Remove the token and the credential's secret from a message, should a server or
    /// a library ever echo them.
    fn scrub(&self, msg: &str, token: &Secret) -> String {
        let mut out = msg.to_string();
        for s in [self.cloud.auth.secret(), token] {
            if s.expose().len() >= 4 {
                out = out.replace(s.expose(), REDACTED);
            }
        }
        out
    }
}

async fn authenticate(http: &reqwest::Client, cloud: &CloudConfig) -> Result<Authed, ApiError> {
    let path = "/auth/tokens";
    let secret = cloud.auth.secret().clone();
    let scrub = |m: String| {
        if secret.expose().len() >= 4 {
            m.replace(secret.expose(), REDACTED)
        } else {
            m
        }
    };
    let t = Instant::now();
    let resp = http
        .post(format!("{}{path}", cloud.auth_url))
        .json(&auth::token_request(cloud))
        .send()
        .await
        .map_err(|e| ApiError::Transport {
            cloud: cloud.name.clone(),
            service: "keystone",
            method: Method::POST,
            path: path.into(),
            detail: scrub(transport_detail(&e, cloud)),
        })?;
    let status = resp.status();
    tracing::debug!(
        service = "keystone",
        path,
        status = status.as_u16(),
        ms = t.elapsed().as_secs_f64() * 1000.0,
        "openstack auth"
    );
    let token = resp
        .headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(Secret::new);
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(ApiError::Status {
            cloud: cloud.name.clone(),
            service: "keystone",
            method: Method::POST,
            path: path.into(),
            status,
            message: scrub(cloud_message(&text)),
        });
    }
    let unexpected = |what: &str| ApiError::Unexpected {
        cloud: cloud.name.clone(),
        what: format!("keystone POST {path}: {what}"),
    };
    let token = token.ok_or_else(|| unexpected("no X-Subject-Token in the answer"))?;
    let body: Value =
        serde_json::from_str(&text).map_err(|e| unexpected(&format!("answer is not JSON: {e}")))?;
    let session = auth::session(token, &body);
    // One region for every service: the configured one, else the first region of the
    // catalog that has all three.
    let region = cloud.region.clone().or_else(|| {
        session.pinned_region(
            &[
                Service::Compute.kind(),
                Service::Image.kind(),
                Service::Network.kind(),
            ],
            &cloud.interface,
        )
    });
    let region = region.as_deref();
    let find = |service: Service| -> Result<String, ApiError> {
        let url = session
            .endpoint(service.kind(), region, &cloud.interface)
            .ok_or_else(|| ApiError::NoEndpoint {
                cloud: cloud.name.clone(),
                kind: service.kind(),
                interface: cloud.interface.clone(),
                region: region.map(str::to_string),
            })?;
        Ok(match service.version() {
            Some(v) if !url.ends_with(v) => format!("{url}{v}"),
            _ => url,
        })
    };
    Ok(Authed {
        compute: find(Service::Compute)?,
        image: find(Service::Image)?,
        network: find(Service::Network)?,
        region: region.map(str::to_string),
        session,
    })
}

/// A transport error on one line, with a hint when it is a certificate the host does
/// not trust.
fn transport_detail(e: &reqwest::Error, cloud: &CloudConfig) -> String {
    let d = error_chain(e);
    match super::tls::hint(&d, cloud) {
        Some(h) => format!("{d} (hint: {h})"),
        None => d,
    }
}

/// An error and its causes on one line (reqwest's own message hides the cause, e.g.
/// "connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// The human message of an OpenStack error body, on one line. Nova wraps it as
/// `{"itemNotFound": {"message": ...}}`, Neutron as `{"NeutronError": {"message": ...}}`,
/// Keystone as `{"error": {"message": ...}}`, Placement as `{"errors": [{"detail": ...}]}`;
/// Glance often answers an HTML page.
pub fn cloud_message(body: &str) -> String {
    let one_line = |s: &str| {
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.chars().count() > 400 {
            format!("{}…", s.chars().take(400).collect::<String>())
        } else {
            s
        }
    };
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return one_line(m);
        }
        if let Some(m) = v
            .get("errors")
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("detail").or_else(|| e.get("title")))
            .and_then(Value::as_str)
        {
            return one_line(m);
        }
        if let Some(obj) = v.as_object() {
            for inner in obj.values() {
                if let Some(m) = inner.get("message").and_then(Value::as_str) {
                    return one_line(m);
                }
            }
        }
        return one_line(body);
    }
    // HTML or text: drop tags, keep the words; a title repeated as a heading once.
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words = one_line(&text);
    if words.is_empty() {
        "(no message)".into()
    } else {
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_each_service_on_one_line() {
        assert_eq!(
            cloud_message(
                r#"{"forbidden": {"code": 403, "message": "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"}}"#
            ),
            "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"
        );
        assert_eq!(
            cloud_message(
                r#"{"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['port'].", "detail": ""}}"#
            ),
            "Quota exceeded for resources: ['port']."
        );
        assert_eq!(
            cloud_message(
                r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you\nhave made requires authentication."}}"#
            ),
            "The request you have made requires authentication."
        );
        assert_eq!(
            cloud_message("<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>No image found with ID x<br /><br /></body></html>"),
            "404 Not Found 404 Not Found No image found with ID x"
        );
    }
}
