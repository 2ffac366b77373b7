//! Which cloud, and with which credentials: the way OpenStack users already have them,
//! read as openstacksdk (and so the `openstack` client) reads them.
//!
//! One cloud per run, chosen once, in this order:
//! 1. `--os-cloud NAME` (the CLI sets [`OVERRIDE_VAR`]);
//! 2. `OS_CLOUD`;
//! 3. the scenario's `[openstack] cloud`;
//! 4. the `OS_*` variables of an openrc file (`OS_AUTH_URL` present);
//! 5. the devcloud's entry (`virtbench-devcloud`) when a clouds.yaml has it, so
//!    `devcloud/up` is all a user needs.
//!
//! A named cloud is looked up in `clouds.yaml`, searched in `OS_CLIENT_CONFIG_FILE`,
//! `./clouds.yaml`, `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml` and
//! the devcloud's state directory (the first file that has the entry wins). Its entry
//! is merged with the same entry of `secure.yaml` (`OS_CLIENT_SECURE_FILE`, then the
//! `secure.yaml` beside each clouds.yaml: Horizon's clouds.yaml carries no password),
//! then fields still missing are filled from `OS_*` (a sourced openrc's `OS_PASSWORD`,
//! as the `openstack` client's own options do). `regions:` gives the region when
//! `region_name` does not. TLS: `cacert`, `cert`, `key`, `verify`/`insecure` and
//! `OS_CACERT`, `OS_CERT`, `OS_KEY`, `OS_INSECURE`.
//!
//! Passwords, secrets and tokens become [`Secret`]s as soon as they are read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::secret::Secret;

/// The clouds.yaml entry `devcloud/up` writes.
pub const DEVCLOUD: &str = "virtbench-devcloud";

/// Set by `virtbench --os-cloud NAME`: the cloud, over OS_CLOUD and the scenario's.
pub const OVERRIDE_VAR: &str = "VIRTBENCH_OS_CLOUD";

#[derive(Debug, thiserror::Error)]
pub enum CloudsError {
    #[error("cloud {cloud:?} is in no clouds.yaml (searched {})", show_paths(.searched))]
    NotFound {
        cloud: String,
        searched: Vec<PathBuf>,
    },
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: no `{field}` given")]
    Missing { origin: String, field: &'static str },
    #[error("{origin}: auth_type {value:?} is not supported (expected password, v3password, v3applicationcredential, token, v3token)")]
    AuthType { origin: String, value: String },
    #[error("no cloud configured: no --os-cloud, no OS_CLOUD, no [openstack] cloud in the scenario, no OS_AUTH_URL and no {DEVCLOUD:?} entry in a clouds.yaml (searched {})", show_paths(.searched))]
    NoCloud { searched: Vec<PathBuf> },
}

fn show_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A domain, project or user named either way Keystone accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOrId {
    Name(String),
    Id(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuthMethod {
    Password {
        user: NameOrId,
        /// Domain of the user when it is given by name.
        user_domain: NameOrId,
        password: Secret,
        project: NameOrId,
        /// Domain of the project when it is given by name.
        project_domain: NameOrId,
    },
    /// Scoped by the credential itself: no project in the request.
    ApplicationCredential {
        /// By id, or by name together with the owning user.
        credential: NameOrId,
        user: Option<(NameOrId, NameOrId)>,
        secret: Secret,
    },
    /// An existing token (`auth_type: token`), rescoped to the project when one is given.
    Token {
        token: Secret,
        project: Option<(NameOrId, NameOrId)>,
    },
}

impl AuthMethod {
    /// The one secret this method sends (scrubbed from every message).
    pub fn secret(&self) -> &Secret {
        match self {
            AuthMethod::Password { password, .. } => password,
            AuthMethod::ApplicationCredential { secret, .. } => secret,
            AuthMethod::Token { token, .. } => token,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AuthMethod::Password { .. } => "password",
            AuthMethod::ApplicationCredential { .. } => "application credential",
            AuthMethod::Token { .. } => "token",
        }
    }
}

/// How the cloud's certificate is checked, as openstacksdk does it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// A CA bundle added to the system's roots (`cacert`, `OS_CACERT`).
    pub cacert: Option<PathBuf>,
    /// A client certificate and its key (`cert`, `key`, `OS_CERT`, `OS_KEY`); both may
    /// be one PEM file.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `verify: false`, `insecure: true` or `OS_INSECURE=true` make it false: honoured,
    /// and said loudly wherever the run reports its cloud.
    pub verify: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cacert: None,
            cert: None,
            key: None,
            verify: true,
        }
    }
}

/// One cloud, ready to authenticate against. `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    /// The clouds.yaml entry, or "OS_* environment".
    pub name: String,
    /// Where it came from (a file path, or "environment").
    pub origin: String,
    /// Keystone's v3 root, e.g. `http://127.0.0.1:36000/v3`.
    pub auth_url: String,
    pub auth: AuthMethod,
    pub region: Option<String>,
    /// Catalog interface: public (default), internal or admin.
    pub interface: String,
    pub tls: Tls,
}

impl CloudConfig {
    /// The host (and port) of the auth URL: what results and the report name the cloud
    /// by, beside its region and project (never a credential).
    pub fn auth_host(&self) -> String {
        let rest = self
            .auth_url
            .split_once("://")
            .map(|x| x.1)
            .unwrap_or(&self.auth_url);
        let host = rest.split('/').next().unwrap_or(rest);
        // A user:password@ in the URL is a credential too.
        host.rsplit('@').next().unwrap_or(host).to_string()
    }

    /// What is unsafe about reaching this cloud, one line each: certificate checks off,
    /// or a credential sent in clear to another machine.
    pub fn transport_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.tls.verify {
            w.push(format!(
                "TLS certificate verification is OFF for cloud {} ({}: verify: false / \
                 OS_INSECURE): anyone on the path can read its {}",
                self.name,
                self.origin,
                self.auth.kind()
            ));
        }
        if self.auth_url.starts_with("http://") && !is_loopback_host(&self.auth_host()) {
            w.push(format!(
                "cloud {} authenticates over plain http:// to {}: its {} crosses the \
                 network unencrypted",
                self.name,
                self.auth_host(),
                self.auth.kind()
            ));
        }
        w
    }
}

/// `localhost`, 127.0.0.0/8 or ::1, with or without a port.
fn is_loopback_host(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where credentials come from: the process's environment and the standard files, or
/// given ones (tests). `Debug` names the variables, never their values (`OS_PASSWORD`).
#[derive(Clone, Default)]
pub struct Sources {
    pub env: BTreeMap<String, String>,
    /// clouds.yaml candidates, in search order; the `secure.yaml` beside each is read too.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("files", &self.files)
            .finish()
    }
}

/// Variables read from the process (`Debug` of [`Sources`] shows their names only).
fn wanted_var(k: &str) -> bool {
    k.starts_with("OS_") || k == "HOME" || k == OVERRIDE_VAR
}

impl Sources {
    pub fn from_process() -> Sources {
        let env: BTreeMap<String, String> =
            std::env::vars().filter(|(k, _)| wanted_var(k)).collect();
        let mut files = Vec::new();
        if let Some(f) = env.get("OS_CLIENT_CONFIG_FILE").filter(|f| !f.is_empty()) {
            files.push(PathBuf::from(f));
        }
        files.push(PathBuf::from("clouds.yaml"));
        if let Some(home) = env.get("HOME") {
            files.push(Path::new(home).join(".config/openstack/clouds.yaml"));
        }
        files.push(PathBuf::from("/etc/openstack/clouds.yaml"));
        // Last, the devcloud's own file: `devcloud/up` also merges its entries into
        // ~/.config/openstack/clouds.yaml, unless told not to.
        let state = std::env::var("DEVCLOUD_STATE")
            .unwrap_or_else(|_| "/var/lib/virtbench-devcloud".into());
        files.push(Path::new(&state).join("clouds.yaml"));
        Sources { env, files }
    }

    fn var(&self, k: &str) -> Option<&str> {
        self.env
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The cloud to use: `--os-cloud`, else `OS_CLOUD`, else `wanted` (the scenario's),
    /// else the `OS_*` variables, else the devcloud's entry when a clouds.yaml has it.
    pub fn select(&self, wanted: Option<&str>) -> Result<CloudConfig, CloudsError> {
        if let Some(name) = self.var(OVERRIDE_VAR) {
            return self.named(name);
        }
        if let Some(name) = self.var("OS_CLOUD") {
            return self.named(name);
        }
        if let Some(name) = wanted.filter(|n| !n.is_empty()) {
            return self.named(name);
        }
        if self.var("OS_AUTH_URL").is_some() {
            return self.openrc();
        }
        match self.named(DEVCLOUD) {
            Err(CloudsError::NotFound { searched, .. }) => Err(CloudsError::NoCloud { searched }),
            other => other,
        }
    }

    /// `secure.yaml` candidates: `OS_CLIENT_SECURE_FILE`, then the one beside each
    /// clouds.yaml (openstacksdk searches the same directories for both).
    fn secure_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(f) = self.var("OS_CLIENT_SECURE_FILE") {
            out.push(PathBuf::from(f));
        }
        for f in &self.files {
            let s = f.with_file_name("secure.yaml");
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// The entry `name` of the first file in `paths` that has it, as YAML.
    fn entry_in(
        paths: &[PathBuf],
        name: &str,
    ) -> Result<Option<(PathBuf, serde_yaml::Value)>, CloudsError> {
        for path in paths {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(CloudsError::Read {
                        path: path.clone(),
                        source,
                    })
                }
            };
            let doc: serde_yaml::Value =
                serde_yaml::from_str(&text).map_err(|e| CloudsError::Parse {
                    path: path.clone(),
                    message: e.to_string().replace('\n', " "),
                })?;
            if let Some(entry) = doc.get("clouds").and_then(|c| c.get(name)) {
                return Ok(Some((path.clone(), entry.clone())));
            }
        }
        Ok(None)
    }

    /// The entry `name` of the first clouds.yaml that has it, merged with its
    /// secure.yaml counterpart, its gaps filled from `OS_*`.
    pub fn named(&self, name: &str) -> Result<CloudConfig, CloudsError> {
        let public = Self::entry_in(&self.files, name)?;
        let secure = Self::entry_in(&self.secure_files(), name)?;
        let (origin, value) = match (public, secure) {
            (Some((p, mut v)), Some((s, sv))) => {
                merge(&mut v, sv);
                (
                    format!("{}: clouds.{name} + {}", p.display(), s.display()),
                    v,
                )
            }
            (Some((p, v)), None) | (None, Some((p, v))) => {
                (format!("{}: clouds.{name}", p.display()), v)
            }
            (None, None) => {
                return Err(CloudsError::NotFound {
                    cloud: name.into(),
                    searched: self.files.clone(),
                })
            }
        };
        let path = PathBuf::from(origin.split(": clouds.").next().unwrap_or_default());
        let mut entry: CloudEntry =
            serde_yaml::from_value(value).map_err(|e| CloudsError::Parse {
                path,
                message: format!("clouds.{name}: {}", e.to_string().replace('\n', " ")),
            })?;
        entry.fill_from(&self.env_entry());
        entry.to_config(name, &origin)
    }

    /// What the `OS_*` variables say, as a clouds.yaml entry.
    fn env_entry(&self) -> CloudEntry {
        let get = |k: &str| self.var(k).map(str::to_string);
        CloudEntry {
            auth: AuthEntry {
                auth_url: get("OS_AUTH_URL"),
                username: get("OS_USERNAME"),
                user_id: get("OS_USER_ID"),
                password: get("OS_PASSWORD"),
                token: get("OS_TOKEN"),
                project_name: get("OS_PROJECT_NAME").or_else(|| get("OS_TENANT_NAME")),
                project_id: get("OS_PROJECT_ID").or_else(|| get("OS_TENANT_ID")),
                user_domain_name: get("OS_USER_DOMAIN_NAME"),
                user_domain_id: get("OS_USER_DOMAIN_ID"),
                project_domain_name: get("OS_PROJECT_DOMAIN_NAME"),
                project_domain_id: get("OS_PROJECT_DOMAIN_ID"),
                domain_name: get("OS_DOMAIN_NAME"),
                domain_id: get("OS_DOMAIN_ID"),
                application_credential_id: get("OS_APPLICATION_CREDENTIAL_ID"),
                application_credential_name: get("OS_APPLICATION_CREDENTIAL_NAME"),
                application_credential_secret: get("OS_APPLICATION_CREDENTIAL_SECRET"),
            },
            auth_type: get("OS_AUTH_TYPE"),
            region_name: get("OS_REGION_NAME"),
            regions: Vec::new(),
            interface: get("OS_INTERFACE").or_else(|| get("OS_ENDPOINT_TYPE")),
            cacert: get("OS_CACERT"),
            cert: get("OS_CERT"),
            key: get("OS_KEY"),
            verify: None,
            insecure: get("OS_INSECURE")
                .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
        }
    }

    /// An openrc-style environment.
    fn openrc(&self) -> Result<CloudConfig, CloudsError> {
        let mut c = self
            .env_entry()
            .to_config("OS_* environment", "OS_* environment")?;
        c.name = "OS_* environment".into();
        Ok(c)
    }
}

/// `secure` into `base`, key by key, mappings recursively, `secure` winning (as
/// openstacksdk merges secure.yaml).
fn merge(base: &mut serde_yaml::Value, secure: serde_yaml::Value) {
    match (base, secure) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(s)) => {
            for (k, v) in s {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, s) => *b = s,
    }
}

/// A region in `regions:`: a bare name, or `{name: ..., values: {...}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RegionEntry {
    Name(String),
    Full { name: String },
}

/// A clouds.yaml entry; fields virtbench does not use are ignored.
#[derive(Default, Deserialize)]
struct CloudEntry {
    #[serde(default)]
    auth: AuthEntry,
    auth_type: Option<String>,
    region_name: Option<String>,
    #[serde(default)]
    regions: Vec<RegionEntry>,
    interface: Option<String>,
    cacert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    verify: Option<bool>,
    insecure: Option<bool>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    auth_url: Option<String>,
    username: Option<String>,
    user_id: Option<String>,
    password: Option<String>,
    token: Option<String>,
    project_name: Option<String>,
    project_id: Option<String>,
    user_domain_name: Option<String>,
    user_domain_id: Option<String>,
    project_domain_name: Option<String>,
    project_domain_id: Option<String>,
    /// Applies to user and project when their own domain is not given.
    domain_name: Option<String>,
    domain_id: Option<String>,
    application_credential_id: Option<String>,
    application_credential_name: Option<String>,
    application_credential_secret: Option<String>,
}

fn either(id: &Option<String>, name: &Option<String>) -> Option<NameOrId> {
    match (id, name) {
        (Some(i), _) if !i.is_empty() => Some(NameOrId::Id(i.clone())),
        (_, Some(n)) if !n.is_empty() => Some(NameOrId::Name(n.clone())),
        _ => None,
    }
}

fn fill(slot: &mut Option<String>, from: &Option<String>) {
    if slot.as_deref().is_none_or(str::is_empty) {
        slot.clone_from(from);
    }
}

impl CloudEntry {
    /// Fields this entry leaves empty, taken from `env` (the `OS_*` variables). A field
    /// the entry gives is kept; a user given by name does not get an id from the
    /// environment (nor a project), so one identity is never mixed with another.
    fn fill_from(&mut self, env: &CloudEntry) {
        let (a, e) = (&mut self.auth, &env.auth);
        fill(&mut a.auth_url, &e.auth_url);
        if a.username.is_none() && a.user_id.is_none() {
            fill(&mut a.username, &e.username);
            fill(&mut a.user_id, &e.user_id);
        }
        if a.project_name.is_none() && a.project_id.is_none() {
            fill(&mut a.project_name, &e.project_name);
            fill(&mut a.project_id, &e.project_id);
        }
        for (slot, from) in [
            (&mut a.password, &e.password),
            (&mut a.token, &e.token),
            (&mut a.user_domain_name, &e.user_domain_name),
            (&mut a.user_domain_id, &e.user_domain_id),
            (&mut a.project_domain_name, &e.project_domain_name),
            (&mut a.project_domain_id, &e.project_domain_id),
            (&mut a.domain_name, &e.domain_name),
            (&mut a.domain_id, &e.domain_id),
            (
                &mut a.application_credential_secret,
                &e.application_credential_secret,
            ),
        ] {
            fill(slot, from);
        }
        if a.application_credential_id.is_none() && a.application_credential_name.is_none() {
            fill(
                &mut a.application_credential_id,
                &e.application_credential_id,
            );
            fill(
                &mut a.application_credential_name,
                &e.application_credential_name,
            );
        }
        fill(&mut self.auth_type, &env.auth_type);
        fill(&mut self.region_name, &env.region_name);
        fill(&mut self.interface, &env.interface);
        fill(&mut self.cacert, &env.cacert);
        fill(&mut self.cert, &env.cert);
        fill(&mut self.key, &env.key);
        if self.insecure.is_none() {
            self.insecure = env.insecure;
        }
    }

    fn to_config(&self, name: &str, origin: &str) -> Result<CloudConfig, CloudsError> {
        let a = &self.auth;
        let missing = |field| CloudsError::Missing {
            origin: origin.into(),
            field,
        };
        let auth_url = a.auth_url.clone().ok_or_else(|| missing("auth_url"))?;
        let domain = |id: &Option<String>, name: &Option<String>| {
            either(id, name)
                .or_else(|| either(&a.domain_id, &a.domain_name))
                // Keystone's default domain, as the openstack client assumes.
                .unwrap_or_else(|| NameOrId::Id("default".into()))
        };
        let kind = self
            .auth_type
            .clone()
            .unwrap_or_else(|| {
                if a.application_credential_secret.is_some()
                    && a.application_credential_id.is_some()
                        | a.application_credential_name.is_some()
                {
                    "v3applicationcredential".into()
                } else if a.token.is_some() && a.password.is_none() {
                    "token".into()
                } else {
                    "password".into()
                }
            })
            .to_ascii_lowercase();
        let auth = match kind.as_str() {
            "password" | "v3password" => AuthMethod::Password {
                user: either(&a.user_id, &a.username).ok_or_else(|| missing("username"))?,
                user_domain: domain(&a.user_domain_id, &a.user_domain_name),
                password: Secret::new(a.password.clone().ok_or_else(|| missing("password"))?),
                project: either(&a.project_id, &a.project_name)
                    .ok_or_else(|| missing("project_name"))?,
                project_domain: domain(&a.project_domain_id, &a.project_domain_name),
            },
            "v3applicationcredential" => {
                let credential =
                    either(&a.application_credential_id, &a.application_credential_name)
                        .ok_or_else(|| missing("application_credential_id"))?;
                let user = match &credential {
                    NameOrId::Id(_) => None,
                    NameOrId::Name(_) => Some((
                        either(&a.user_id, &a.username).ok_or_else(|| missing("username"))?,
                        domain(&a.user_domain_id, &a.user_domain_name),
                    )),
                };
                AuthMethod::ApplicationCredential {
                    credential,
                    user,
                    secret: Secret::new(
                        a.application_credential_secret
                            .clone()
                            .ok_or_else(|| missing("application_credential_secret"))?,
                    ),
                }
            }
            "token" | "v3token" => AuthMethod::Token {
                token: Secret::new(a.token.clone().ok_or_else(|| missing("token"))?),
                project: either(&a.project_id, &a.project_name)
                    .map(|p| (p, domain(&a.project_domain_id, &a.project_domain_name))),
            },
            other => {
                return Err(CloudsError::AuthType {
                    origin: origin.into(),
                    value: other.into(),
                })
            }
        };
        // openstacksdk: `region_name`, else the first of `regions`.
        let region = self
            .region_name
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| {
                self.regions.first().map(|r| match r {
                    RegionEntry::Name(n) | RegionEntry::Full { name: n } => n.clone(),
                })
            });
        let path = |p: &Option<String>| p.clone().filter(|p| !p.is_empty()).map(PathBuf::from);
        Ok(CloudConfig {
            name: name.into(),
            origin: origin.into(),
            auth_url: v3_root(&auth_url),
            auth,
            region,
            interface: self
                .interface
                .clone()
                .map(|i| i.trim_end_matches("URL").to_ascii_lowercase())
                .unwrap_or_else(|| "public".into()),
            tls: Tls {
                cacert: path(&self.cacert),
                cert: path(&self.cert),
                key: path(&self.key),
                verify: self.verify.unwrap_or(true) && !self.insecure.unwrap_or(false),
            },
        })
    }
}

/// Keystone's v3 root from what users write (`.../v3`, `.../v3/`, `.../identity`, or
/// the bare host).
fn v3_root(url: &str) -> String {
    let u = url.trim_end_matches('/');
    if u.ends_with("/v3") {
        u.to_string()
    } else if let Some(base) = u.strip_suffix("/v2.0") {
        format!("{base}/v3")
    } else {
        format!("{u}/v3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
clouds:
  virtbench-devcloud:
    auth:
      auth_url: http://127.0.0.1:36000/v3
      username: virtbench
      password: s3cret-pw
      project_name: virtbench
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
    interface: public
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.org:5000
      application_credential_id: abc123
      application_credential_secret: app-s3cret
"#;

    fn sources(dir: &Path, env: &[(&str, &str)]) -> Sources {
        let f = dir.join("clouds.yaml");
        std::fs::write(&f, YAML).unwrap();
        Sources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: vec![dir.join("absent.yaml"), f],
        }
    }

    #[test]
    fn named_cloud_from_the_first_file_that_has_it() {
        let d = tempfile::tempdir().unwrap();
        let c = sources(d.path(), &[])
            .select(Some("virtbench-devcloud"))
            .unwrap();
        assert_eq!(c.auth_url, "http://127.0.0.1:36000/v3");
        assert_eq!(c.region.as_deref(), Some("RegionOne"));
        match &c.auth {
            AuthMethod::Password {
                user,
                password,
                project_domain,
                ..
            } => {
                assert_eq!(user, &NameOrId::Name("virtbench".into()));
                assert_eq!(password.expose(), "s3cret-pw");
                assert_eq!(project_domain, &NameOrId::Name("Default".into()));
            }
            other => panic!("{other:?}"),
        }
        // No secret in any rendering of the config.
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("s3cret-pw"), "{shown}");
    }

    #[test]
    fn os_cloud_then_env_then_devcloud() {
        let d = tempfile::tempdir().unwrap();
        let c = sources(d.path(), &[("OS_CLOUD", "appcred")])
            .select(None)
            .unwrap();
        assert_eq!(c.auth_url, "https://keystone.example.org:5000/v3");
        assert!(matches!(
            c.auth,
            AuthMethod::ApplicationCredential { ref credential, .. } if credential == &NameOrId::Id("abc123".into())
        ));
        assert!(!format!("{c:?}").contains("app-s3cret"));

        let env = [
            ("OS_AUTH_URL", "http://k:5000/v3/"),
            ("OS_USERNAME", "u"),
            ("OS_PASSWORD", "env-pw"),
            ("OS_PROJECT_NAME", "p"),
            ("OS_REGION_NAME", "R2"),
        ];
        let c = sources(d.path(), &env).select(None).unwrap();
        assert_eq!(c.name, "OS_* environment");
        assert_eq!(c.auth_url, "http://k:5000/v3");
        assert_eq!(c.region.as_deref(), Some("R2"));
        assert!(!format!("{c:?}").contains("env-pw"));

        let c = sources(d.path(), &[]).select(None).unwrap();
        assert_eq!(c.name, DEVCLOUD);

        // --os-cloud wins over the scenario's choice, and so does OS_CLOUD; the
        // scenario's wins over OS_* variables.
        let c = sources(d.path(), &[(OVERRIDE_VAR, "appcred")])
            .select(Some("virtbench-devcloud"))
            .unwrap();
        assert_eq!(c.name, "appcred");
        let c = sources(d.path(), &[("OS_CLOUD", "appcred")])
            .select(Some("virtbench-devcloud"))
            .unwrap();
        assert_eq!(c.name, "appcred");
        let c = sources(d.path(), &env).select(Some("appcred")).unwrap();
        assert_eq!(c.name, "appcred");
    }

    /// Horizon's clouds.yaml (no password) + secure.yaml, or + a sourced openrc.
    #[test]
    fn secure_yaml_and_os_password_complete_a_named_cloud() {
        let d = tempfile::tempdir().unwrap();
        let clouds = d.path().join("clouds.yaml");
        std::fs::write(
            &clouds,
            r#"
clouds:
  campus:
    auth:
      auth_url: https://keystone.campus.example:5000
      username: alice
      project_name: tp-cloud
      user_domain_name: Default
      project_domain_name: Default
    regions: [Nord, Sud]
    cacert: /etc/campus-ca.pem
  campus-ac:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.campus.example:5000/v3
      application_credential_id: ac-1
    verify: false
"#,
        )
        .unwrap();
        let only_clouds = Sources {
            env: BTreeMap::new(),
            files: vec![clouds.clone()],
        };
        assert_eq!(
            only_clouds.named("campus").unwrap_err().to_string(),
            format!("{}: clouds.campus: no `password` given", clouds.display())
        );
        // The openrc's OS_PASSWORD fills it (and only the gap: the user stays alice).
        let with_env = Sources {
            env: [("OS_PASSWORD", "rc-pw"), ("OS_USERNAME", "bob")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: vec![clouds.clone()],
        };
        let c = with_env.named("campus").unwrap();
        match &c.auth {
            AuthMethod::Password { user, password, .. } => {
                assert_eq!(user, &NameOrId::Name("alice".into()));
                assert_eq!(password.expose(), "rc-pw");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.region.as_deref(), Some("Nord"), "the first of regions");
        assert_eq!(
            c.tls.cacert.as_deref(),
            Some(Path::new("/etc/campus-ca.pem"))
        );
        assert!(c.tls.verify);
        assert_eq!(c.auth_host(), "keystone.campus.example:5000");
        assert!(c.transport_warnings().is_empty());
        // Debug of the sources names OS_PASSWORD, never its value.
        assert!(!format!("{with_env:?}").contains("rc-pw"));

        // secure.yaml beside it: merged key by key.
        std::fs::write(
            d.path().join("secure.yaml"),
            "clouds:\n  campus:\n    auth:\n      password: sec-pw\n  campus-ac:\n    auth:\n      application_credential_secret: ac-secret\n",
        )
        .unwrap();
        let c = only_clouds.named("campus").unwrap();
        assert!(
            matches!(&c.auth, AuthMethod::Password { password, .. } if password.expose() == "sec-pw")
        );
        assert!(c.origin.contains("secure.yaml"), "{}", c.origin);
        let c = only_clouds.named("campus-ac").unwrap();
        assert!(matches!(
            &c.auth,
            AuthMethod::ApplicationCredential { secret, .. } if secret.expose() == "ac-secret"
        ));
        // verify: false is honoured, and warned about.
        assert!(!c.tls.verify);
        let w = c.transport_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("verification is OFF"), "{w:?}");
    }

    #[test]
    fn tls_and_token_from_the_environment() {
        let env = [
            ("OS_AUTH_URL", "http://10.0.0.5:5000/v3"),
            ("OS_AUTH_TYPE", "v3token"),
            ("OS_TOKEN", "gAAAA-token"),
            ("OS_PROJECT_ID", "p1"),
            ("OS_INSECURE", "true"),
            ("OS_CACERT", "/tmp/ca.pem"),
            ("OS_CERT", "/tmp/me.pem"),
            ("OS_KEY", "/tmp/me.key"),
        ];
        let s = Sources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: Vec::new(),
        };
        let c = s.select(None).unwrap();
        assert!(matches!(
            &c.auth,
            AuthMethod::Token { token, project: Some((NameOrId::Id(p), _)) }
                if token.expose() == "gAAAA-token" && p == "p1"
        ));
        assert_eq!(c.tls.cert.as_deref(), Some(Path::new("/tmp/me.pem")));
        assert_eq!(c.tls.key.as_deref(), Some(Path::new("/tmp/me.key")));
        assert!(!c.tls.verify);
        // Two warnings: no verification, and a token in clear to another machine.
        let w = c.transport_warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[1].contains("plain http:// to 10.0.0.5:5000"), "{w:?}");
        assert!(!format!("{c:?}").contains("gAAAA-token"));
        // Plain http to loopback (the devcloud) is not warned about.
        let d = tempfile::tempdir().unwrap();
        let c = sources(d.path(), &[]).select(None).unwrap();
        assert!(c.transport_warnings().is_empty());
    }

    #[test]
    fn missing_cloud_and_missing_field_say_where() {
        let d = tempfile::tempdir().unwrap();
        let e = sources(d.path(), &[]).select(Some("nope")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cloud \"nope\" is in no clouds.yaml (searched "),
            "{e}"
        );
        let e = sources(d.path(), &[("OS_AUTH_URL", "http://k/v3")])
            .select(None)
            .unwrap_err();
        assert_eq!(e.to_string(), "OS_* environment: no `username` given");
        let none = Sources {
            env: BTreeMap::new(),
            files: vec![d.path().join("absent.yaml")],
        };
        assert!(matches!(
            none.select(None),
            Err(CloudsError::NoCloud { .. })
        ));
    }
}
