//! Keystone v3: the token request for password and application-credential auth, and
//! the service catalog it returns (endpoints chosen by service type, region and
//! interface).

use serde_json::{json, Value};

use super::clouds::{AuthMethod, CloudConfig, NameOrId};
use super::secret::Secret;

/// A scoped token and what came with it. `Debug` shows no token.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: Secret,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub user_name: Option<String>,
    pub catalog: Vec<CatalogService>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogService {
    pub kind: String,
    pub name: String,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub interface: String,
    pub region: Option<String>,
    pub url: String,
}

fn identity(n: &NameOrId, domain: Option<&NameOrId>) -> Value {
    let mut v = match n {
        NameOrId::Id(id) => json!({ "id": id }),
        NameOrId::Name(name) => json!({ "name": name }),
    };
    // A domain only qualifies a name: Keystone rejects nothing extra, but an id is
    // global already.
    if let (NameOrId::Name(_), Some(d)) = (n, domain) {
        v["domain"] = identity(d, None);
    }
    v
}

/// The body of `POST /v3/auth/tokens`. It holds the secret: it goes to the wire and
/// nowhere else (never logged, never in an error).
pub fn token_request(cloud: &CloudConfig) -> Value {
    match &cloud.auth {
        AuthMethod::Password {
            user,
            user_domain,
            password,
            project,
            project_domain,
        } => {
            let mut u = identity(user, Some(user_domain));
            u["password"] = Value::String(password.expose().to_string());
            json!({ "auth": {
                "identity": { "methods": ["password"], "password": { "user": u } },
                "scope": { "project": identity(project, Some(project_domain)) },
            }})
        }
        AuthMethod::ApplicationCredential {
            credential,
            user,
            secret,
        } => {
            let mut c = identity(credential, None);
            if let Some((u, d)) = user {
                c["user"] = identity(u, Some(d));
            }
            c["secret"] = Value::String(secret.expose().to_string());
            json!({ "auth": {
                "identity": { "methods": ["application_credential"], "application_credential": c },
            }})
        }
        AuthMethod::Token { token, project } => {
            let mut body = json!({ "auth": {
                "identity": { "methods": ["token"], "token": { "id": token.expose() } },
            }});
            if let Some((p, d)) = project {
                body["auth"]["scope"] = json!({ "project": identity(p, Some(d)) });
            }
            body
        }
    }
}

/// Read the token response body (the token itself comes in `X-Subject-Token`).
pub fn session(token: Secret, body: &Value) -> Session {
    let t = &body["token"];
    let s = |v: &Value| v.as_str().map(str::to_string);
    let catalog = t["catalog"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|svc| CatalogService {
                    kind: s(&svc["type"]).unwrap_or_default(),
                    name: s(&svc["name"]).unwrap_or_default(),
                    endpoints: svc["endpoints"]
                        .as_array()
                        .map(|e| {
                            e.iter()
                                .filter_map(|ep| {
                                    Some(Endpoint {
                                        interface: s(&ep["interface"])?,
                                        region: s(&ep["region_id"]).or_else(|| s(&ep["region"])),
                                        url: s(&ep["url"])?,
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Session {
        token,
        project_id: s(&t["project"]["id"]),
        project_name: s(&t["project"]["name"]),
        user_name: s(&t["user"]["name"]),
        catalog,
    }
}

impl Session {
    /// The URL of service `kind` (compute, image, network...) for this interface and
    /// region (any region when none is configured).
    pub fn endpoint(&self, kind: &str, region: Option<&str>, interface: &str) -> Option<String> {
        self.catalog
            .iter()
            .filter(|s| s.kind == kind)
            .flat_map(|s| &s.endpoints)
            .find(|e| {
                e.interface == interface && region.is_none_or(|r| e.region.as_deref() == Some(r))
            })
            .map(|e| e.url.trim_end_matches('/').to_string())
    }

    /// The one region every service is taken from when the cloud names none: the
    /// first region (in catalog order) that has every service in `kinds` at this
    /// interface. Without it each service would take its own first endpoint, and
    /// compute and network could come from two regions.
    pub fn pinned_region(&self, kinds: &[&str], interface: &str) -> Option<String> {
        let mut regions: Vec<&str> = Vec::new();
        for e in self.catalog.iter().flat_map(|s| &s.endpoints) {
            if let Some(r) = e.region.as_deref() {
                if !regions.contains(&r) {
                    regions.push(r);
                }
            }
        }
        regions
            .into_iter()
            .find(|r| {
                kinds
                    .iter()
                    .all(|k| self.endpoint(k, Some(r), interface).is_some())
            })
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(auth: AuthMethod) -> CloudConfig {
        CloudConfig {
            name: "c".into(),
            origin: "test".into(),
            auth_url: "http://k/v3".into(),
            auth,
            region: None,
            interface: "public".into(),
            tls: Default::default(),
        }
    }

    #[test]
    fn password_request_is_project_scoped_by_name_and_domain() {
        let body = token_request(&cloud(AuthMethod::Password {
            user: NameOrId::Name("u".into()),
            user_domain: NameOrId::Name("Default".into()),
            password: Secret::new("pw"),
            project: NameOrId::Name("p".into()),
            project_domain: NameOrId::Id("default".into()),
        }));
        let a = &body["auth"];
        assert_eq!(a["identity"]["password"]["user"]["name"], "u");
        assert_eq!(
            a["identity"]["password"]["user"]["domain"]["name"],
            "Default"
        );
        assert_eq!(a["identity"]["password"]["user"]["password"], "pw");
        assert_eq!(a["scope"]["project"]["domain"]["id"], "default");
    }

    #[test]
    fn application_credential_request_has_no_scope() {
        let body = token_request(&cloud(AuthMethod::ApplicationCredential {
            credential: NameOrId::Id("ac".into()),
            user: None,
            secret: Secret::new("s"),
        }));
        assert_eq!(
            body["auth"]["identity"]["methods"][0],
            "application_credential"
        );
        assert_eq!(
            body["auth"]["identity"]["application_credential"]["id"],
            "ac"
        );
        assert!(body["auth"].get("scope").is_none());
    }

    #[test]
    fn catalog_by_region_and_interface() {
        let body = json!({"token": {"project": {"id": "pid", "name": "p"}, "catalog": [
            {"type": "compute", "name": "nova", "endpoints": [
                {"interface": "internal", "region_id": "R1", "url": "http://int/v2.1"},
                {"interface": "public", "region_id": "R1", "url": "http://r1/v2.1/"},
                {"interface": "public", "region_id": "R2", "url": "http://r2/v2.1"}]}]}});
        let s = session(Secret::new("tok"), &body);
        assert_eq!(s.project_id.as_deref(), Some("pid"));
        assert_eq!(
            s.endpoint("compute", Some("R2"), "public").as_deref(),
            Some("http://r2/v2.1")
        );
        assert_eq!(
            s.endpoint("compute", None, "public").as_deref(),
            Some("http://r1/v2.1")
        );
        assert_eq!(
            s.endpoint("compute", Some("R1"), "internal").as_deref(),
            Some("http://int/v2.1")
        );
        assert_eq!(s.endpoint("image", None, "public"), None);
        assert!(!format!("{s:?}").contains("tok\""));
    }

    #[test]
    fn token_request_rescopes_to_the_project() {
        let body = token_request(&cloud(AuthMethod::Token {
            token: Secret::new("t0k"),
            project: Some((NameOrId::Id("pid".into()), NameOrId::Id("default".into()))),
        }));
        assert_eq!(body["auth"]["identity"]["methods"][0], "token");
        assert_eq!(body["auth"]["identity"]["token"]["id"], "t0k");
        assert_eq!(body["auth"]["scope"]["project"]["id"], "pid");
    }

    #[test]
    fn one_region_for_every_service() {
        // R1 lists compute first but has no network: R2 is the region with all three.
        let body = json!({"token": {"catalog": [
            {"type": "compute", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://c1"},
                {"interface": "public", "region_id": "R2", "url": "http://c2"}]},
            {"type": "image", "endpoints": [
                {"interface": "public", "region_id": "R2", "url": "http://i2"},
                {"interface": "public", "region_id": "R1", "url": "http://i1"}]},
            {"type": "network", "endpoints": [
                {"interface": "public", "region_id": "R2", "url": "http://n2"}]}]}});
        let s = session(Secret::new("tok"), &body);
        let kinds = ["compute", "image", "network"];
        assert_eq!(s.pinned_region(&kinds, "public").as_deref(), Some("R2"));
        assert_eq!(s.pinned_region(&kinds, "internal"), None);
    }
}
