//! Which cloud, and with which credentials: the way OpenStack users already have them.
//!
//! - a named cloud (`--os-cloud`, the scenario's `[openstack] cloud`, `OS_CLOUD`) is looked up
//!   in `clouds.yaml`, searched in `OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
//!   `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml` (the first file
//!   that has the entry wins, so a user file can add clouds to a system one);
//! - without a name, the `OS_AUTH_URL`, `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME`
//!   (or `OS_PROJECT_ID`), domain, region and interface variables of an openrc file;
//!   `OS_APPLICATION_CREDENTIAL_ID`/`_SECRET` select application-credential auth;
//! - with neither, the devcloud's entry (`virtbench-devcloud`) when a clouds.yaml has it
//!   (the devcloud's own `$DEVCLOUD_STATE/clouds.yaml` is searched last), so
//!   `devcloud/up` is all a user needs.
//!
//! Passwords and secrets become [`Secret`]s as soon as they are read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::secret::Secret;

/// The clouds.yaml entry `devcloud/up` writes.
pub const DEVCLOUD: &str = "virtbench-devcloud";

/// Set by `virtbench --os-cloud NAME`: the cloud, over the scenario's and OS_CLOUD.
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
    #[error("{origin}: auth_type {value:?} is not supported (expected password, v3password, v3applicationcredential)")]
    AuthType { origin: String, value: String },
    #[error("no cloud configured: no [openstack] cloud in the scenario, no OS_CLOUD, no OS_AUTH_URL and no {DEVCLOUD:?} entry in a clouds.yaml (searched {})", show_paths(.searched))]
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
}

/// Where credentials come from: the process's environment and the standard files, or
/// given ones (tests).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub env: BTreeMap<String, String>,
    /// clouds.yaml candidates, in search order.
    pub files: Vec<PathBuf>,
}

impl Sources {
    pub fn from_process() -> Sources {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("OS_") || k == "HOME" || k == OVERRIDE_VAR)
            .collect();
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

    /// The cloud to use: `--os-cloud`, else `wanted` (the scenario's), else `OS_CLOUD`,
    /// else the `OS_*` variables, else the devcloud's entry when a clouds.yaml has it.
    pub fn select(&self, wanted: Option<&str>) -> Result<CloudConfig, CloudsError> {
        if let Some(name) = self.var(OVERRIDE_VAR) {
            return self.named(name);
        }
        if let Some(name) = wanted.filter(|n| !n.is_empty()) {
            return self.named(name);
        }
        if let Some(name) = self.var("OS_CLOUD") {
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

    /// The entry `name` of the first clouds.yaml that has it.
    pub fn named(&self, name: &str) -> Result<CloudConfig, CloudsError> {
        for path in &self.files {
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
            let file: CloudsFile = serde_yaml::from_str(&text).map_err(|e| CloudsError::Parse {
                path: path.clone(),
                message: e.to_string().replace('\n', " "),
            })?;
            if let Some(entry) = file.clouds.get(name) {
                let origin = format!("{}: clouds.{name}", path.display());
                return entry.to_config(name, &origin);
            }
        }
        Err(CloudsError::NotFound {
            cloud: name.into(),
            searched: self.files.clone(),
        })
    }

    /// An openrc-style environment.
    fn openrc(&self) -> Result<CloudConfig, CloudsError> {
        let origin = "OS_* environment".to_string();
        let get = |k: &str| self.var(k).map(str::to_string);
        let entry = CloudEntry {
            auth: AuthEntry {
                auth_url: get("OS_AUTH_URL"),
                username: get("OS_USERNAME"),
                user_id: get("OS_USER_ID"),
                password: get("OS_PASSWORD"),
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
            interface: get("OS_INTERFACE").or_else(|| get("OS_ENDPOINT_TYPE")),
        };
        let mut c = entry.to_config("OS_* environment", &origin)?;
        c.name = "OS_* environment".into();
        Ok(c)
    }
}

#[derive(Default, Deserialize)]
struct CloudsFile {
    #[serde(default)]
    clouds: BTreeMap<String, CloudEntry>,
}

/// A clouds.yaml entry; fields virtbench does not use are ignored.
#[derive(Default, Deserialize)]
struct CloudEntry {
    #[serde(default)]
    auth: AuthEntry,
    auth_type: Option<String>,
    region_name: Option<String>,
    interface: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    auth_url: Option<String>,
    username: Option<String>,
    user_id: Option<String>,
    password: Option<String>,
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

impl CloudEntry {
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
                if a.application_credential_secret.is_some() {
                    "v3applicationcredential".into()
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
            other => {
                return Err(CloudsError::AuthType {
                    origin: origin.into(),
                    value: other.into(),
                })
            }
        };
        Ok(CloudConfig {
            name: name.into(),
            origin: origin.into(),
            auth_url: v3_root(&auth_url),
            auth,
            region: self.region_name.clone().filter(|r| !r.is_empty()),
            interface: self
                .interface
                .clone()
                .map(|i| i.trim_end_matches("URL").to_ascii_lowercase())
                .unwrap_or_else(|| "public".into()),
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

        // --os-cloud wins over the scenario's choice.
        let c = sources(d.path(), &[(OVERRIDE_VAR, "appcred")])
            .select(Some("virtbench-devcloud"))
            .unwrap();
        assert_eq!(c.name, "appcred");
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
