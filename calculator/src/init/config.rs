//! The appliance's configuration: role, peers and network, as `virtbench.KEY=VALUE`
//! words. Sources, highest priority first: the kernel command line (direct kernel
//! boot), the SMBIOS system serial number (QEMU `-smbios type=1,serial=...`,
//! VirtualBox `DmiSystemSerial`: per-VM settings for a generic disk image) and the
//! OpenStack metadata `user_data` (where the `virtbench.` prefix is optional and
//! words may be on several lines).

use std::fmt;
use std::net::Ipv4Addr;

/// Roles the appliance can run: one service, or all five.
pub const ROLES: [&str; 6] = ["calculator", "sum", "sub", "mul", "div", "all"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpSetting {
    Dhcp,
    Static { addr: Ipv4Addr, prefix: u8 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub role: Option<String>,
    /// `sum=IP:PORT,sub=...` as the calculator's peer list takes it.
    pub peers: Option<String>,
    pub ip: Option<IpSetting>,
    pub gateway: Option<Ipv4Addr>,
    /// Network interface; the first non-loopback one when absent.
    pub iface: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where a configuration text came from: decides whether the prefix is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Kernel command line or SMBIOS string: shared with other software, so only
    /// `virtbench.`-prefixed words are ours.
    Prefixed,
    /// Instance user data: ours alone, prefix optional, `#` comments allowed.
    UserData,
}

impl Config {
    pub fn parse(text: &str, source: Source) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        for line in text.lines() {
            let line = match source {
                Source::UserData => line.split('#').next().unwrap_or(""),
                Source::Prefixed => line,
            };
            for original in line.split_whitespace() {
                let word = match (original.strip_prefix("virtbench."), source) {
                    (Some(w), _) => w,
                    (None, Source::UserData) => original,
                    (None, Source::Prefixed) => continue,
                };
                let (key, value) = word
                    .split_once('=')
                    .ok_or_else(|| ConfigError(format!("{original}: expected KEY=VALUE")))?;
                cfg.set(key, value)?;
            }
        }
        Ok(cfg)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |why: &str| ConfigError(format!("virtbench.{key}={value}: {why}"));
        match key {
            "role" => {
                if !ROLES.contains(&value) {
                    return Err(bad(&format!(
                        "unknown role (expected one of {})",
                        ROLES.join(", ")
                    )));
                }
                self.role = Some(value.into());
            }
            "peers" => self.peers = Some(value.into()),
            "ip" => self.ip = Some(parse_ip(value).map_err(|e| bad(&e))?),
            "gw" => self.gateway = Some(value.parse().map_err(|_| bad("not an IPv4 address"))?),
            "iface" => {
                if value.is_empty() || value.len() > 15 || value.contains('/') {
                    return Err(bad("not an interface name"));
                }
                self.iface = Some(value.into());
            }
            _ => return Err(bad("unknown key (expected role, peers, ip, gw, iface)")),
        }
        Ok(())
    }

    /// Fill what `self` lacks from a lower-priority source.
    pub fn or(self, lower: Config) -> Config {
        Config {
            role: self.role.or(lower.role),
            peers: self.peers.or(lower.peers),
            ip: self.ip.or(lower.ip),
            gateway: self.gateway.or(lower.gateway),
            iface: self.iface.or(lower.iface),
        }
    }
}

fn parse_ip(value: &str) -> Result<IpSetting, String> {
    if value == "dhcp" {
        return Ok(IpSetting::Dhcp);
    }
    let (addr, prefix) = value.split_once('/').unwrap_or((value, "24"));
    let addr = addr
        .parse()
        .map_err(|_| "expected dhcp or ADDRESS/PREFIX".to_string())?;
    let prefix = prefix
        .parse::<u8>()
        .ok()
        .filter(|p| (1..=32).contains(p))
        .ok_or_else(|| "prefix length must be 1..32".to_string())?;
    Ok(IpSetting::Static { addr, prefix })
}

/// The netmask of a prefix length, e.g. 24 -> 255.255.255.0.
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMDLINE: &str = "console=ttyS0 quiet virtbench.role=calculator \
        virtbench.peers=sum=10.0.2.2:40001,sub=10.0.2.2:40002 virtbench.ip=10.0.2.15/24 virtbench.gw=10.0.2.2 panic=-1";

    #[test]
    fn kernel_command_line() {
        let c = Config::parse(CMDLINE, Source::Prefixed).unwrap();
        assert_eq!(c.role.as_deref(), Some("calculator"));
        assert_eq!(
            c.peers.as_deref(),
            Some("sum=10.0.2.2:40001,sub=10.0.2.2:40002")
        );
        assert_eq!(
            c.ip,
            Some(IpSetting::Static {
                addr: Ipv4Addr::new(10, 0, 2, 15),
                prefix: 24
            })
        );
        assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(c.iface, None);
    }

    #[test]
    fn other_words_are_ignored_on_the_command_line() {
        let c = Config::parse(
            "BOOT_IMAGE=/vmlinuz role=sum root=/dev/vda1\n",
            Source::Prefixed,
        )
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn user_data_prefix_optional_and_comments() {
        let text = "# virtbench appliance\nrole=sum\nvirtbench.ip=dhcp   # from Neutron\n\n";
        let c = Config::parse(text, Source::UserData).unwrap();
        assert_eq!(c.role.as_deref(), Some("sum"));
        assert_eq!(c.ip, Some(IpSetting::Dhcp));
    }

    #[test]
    fn errors_name_key_and_value() {
        let e = Config::parse("virtbench.role=mod", Source::Prefixed).unwrap_err();
        assert_eq!(e.0, "virtbench.role=mod: unknown role (expected one of calculator, sum, sub, mul, div, all)");
        let e = Config::parse("virtbench.ip=10.0.2.300/24", Source::Prefixed).unwrap_err();
        assert!(e.0.starts_with("virtbench.ip=10.0.2.300/24:"), "{e}");
        let e = Config::parse("virtbench.ip=10.0.2.3/33", Source::Prefixed).unwrap_err();
        assert!(e.0.contains("1..32"), "{e}");
        let e = Config::parse("virtbench.color=red", Source::Prefixed).unwrap_err();
        assert!(e.0.starts_with("virtbench.color=red: unknown key"), "{e}");
        let e = Config::parse("virtbench.role", Source::Prefixed).unwrap_err();
        assert!(e.0.contains("KEY=VALUE"), "{e}");
    }

    #[test]
    fn user_data_error_shows_the_word_as_written() {
        let e = Config::parse("hello\n", Source::UserData).unwrap_err();
        assert_eq!(e.0, "hello: expected KEY=VALUE");
    }

    #[test]
    fn static_ip_defaults_to_slash_24() {
        let c = Config::parse("virtbench.ip=192.168.1.7", Source::Prefixed).unwrap();
        assert_eq!(
            c.ip,
            Some(IpSetting::Static {
                addr: Ipv4Addr::new(192, 168, 1, 7),
                prefix: 24
            })
        );
    }

    #[test]
    fn higher_priority_wins_and_gaps_are_filled() {
        let high = Config::parse("virtbench.role=div", Source::Prefixed).unwrap();
        let low = Config::parse("role=sum\nip=dhcp\n", Source::UserData).unwrap();
        let c = high.or(low);
        assert_eq!(c.role.as_deref(), Some("div"));
        assert_eq!(c.ip, Some(IpSetting::Dhcp));
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(netmask(1), Ipv4Addr::new(128, 0, 0, 0));
        assert_eq!(netmask(20), Ipv4Addr::new(255, 255, 240, 0));
    }
}
