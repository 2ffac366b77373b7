//! The lab report's claims (../shared/CLAIMS.md, C1-C15) and the rules that give each a
//! verdict from the run's figures. Each rule is a small pure function over plain numbers
//! (unit-tested below) whose threshold is stated in `Claim::rule`, printed in the report.
//! `evaluate` gathers the figures per platform and adds a specific reason whenever a
//! claim cannot be judged on this host.

use serde::Serialize;

use super::view::{self, fmt_bytes, fmt_ms, fmt_ratio, fmt_us, Kind};
use crate::results::{PlatformResult, RunResults};
use crate::stats::fmt_num;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    Supported,
    Contradicted,
    Mixed,
    /// Not measured here, with the reason (missing platform, experiment not run...).
    NotMeasured(String),
}

impl Verdict {
    pub fn label(&self) -> String {
        match self {
            Verdict::Supported => "supported".into(),
            Verdict::Contradicted => "contradicted".into(),
            Verdict::Mixed => "mixed".into(),
            Verdict::NotMeasured(why) => format!("not measured here: {why}"),
        }
    }

    /// Short class name for styling.
    pub fn class(&self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Contradicted => "contradicted",
            Verdict::Mixed => "mixed",
            Verdict::NotMeasured(_) => "not-measured",
        }
    }
}

/// A verdict, the deciding figure in a few words, and the one line of figures that
/// produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    pub headline: String,
    pub because: String,
}

fn outcome(verdict: Verdict, headline: impl Into<String>, because: impl Into<String>) -> Outcome {
    Outcome {
        verdict,
        headline: headline.into(),
        because: because.into(),
    }
}

fn not_measured(reason: impl Into<String>) -> Outcome {
    let reason = reason.into();
    Outcome {
        because: String::new(),
        headline: without_details(&reason),
        verdict: Verdict::NotMeasured(reason),
    }
}

/// `text` without its parenthesised parts (nested ones included), so that a reason such
/// as "no VirtualBox on this host (VBoxManage not found ...)" fits in a few words; the
/// full text stays in the claim's details.
fn without_details(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let mut tidy = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in [";", ",", ".", ":"] {
        tidy = tidy.replace(&format!(" {p}"), p);
    }
    tidy.trim().to_string()
}

/// "3.26x", or "3.26x–26.1x" when the ratios of several variants differ.
fn ratio_span(rs: &[Named]) -> String {
    let lo = rs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let hi = rs.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    if fmt_ratio(lo) == fmt_ratio(hi) {
        fmt_ratio(lo)
    } else {
        format!("{}–{}", fmt_num(lo), fmt_ratio(hi))
    }
}

/// "2 of 3": how many of `items` pass `f`.
fn count_of<T>(items: &[T], f: impl Fn(&T) -> bool) -> String {
    format!(
        "{} of {}",
        items.iter().filter(|i| f(i)).count(),
        items.len()
    )
}

/// A figure from elsewhere, printed beside ours with its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    pub figure: &'static str,
    /// Short citation for tables, e.g. "Felter et al., ISPASS 2015".
    pub cite: &'static str,
    /// Full citation.
    pub source: &'static str,
}

pub const FELTER: &str = "W. Felter, A. Ferreira, R. Rajamony, J. Rubio, \"An Updated Performance \
     Comparison of Virtual Machines and Linux Containers\", IBM Research, IEEE ISPASS 2015";
pub const FIRECRACKER: &str = "Firecracker microVM specification (SPECIFICATION.md of the \
     firecracker-microvm project)";

const REF_FELTER_NAT: Reference = Reference {
    figure: "Docker's NAT roughly doubles round-trip latency in netperf request/response tests.",
    cite: "Felter et al., ISPASS 2015",
    source: FELTER,
};
const REF_FELTER_KVM: Reference = Reference {
    figure: "KVM adds about 30 µs to each request/response transaction.",
    cite: "Felter et al., ISPASS 2015",
    source: FELTER,
};
const REF_FELTER_EQUAL: Reference = Reference {
    figure: "Docker equals or beats KVM in almost every benchmark.",
    cite: "Felter et al., ISPASS 2015",
    source: FELTER,
};
const REF_FC_BOOT: Reference = Reference {
    figure: "A Firecracker microVM reaches guest init about 125 ms after start.",
    cite: "Firecracker specification",
    source: FIRECRACKER,
};
const REF_FC_MEM: Reference = Reference {
    figure: "Firecracker's VMM overhead is at most 5 MiB of memory per microVM.",
    cite: "Firecracker specification",
    source: FIRECRACKER,
};

/// A figure that decides a claim, for one platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Platform label as displayed (accelerator included for VMs).
    pub platform: String,
    pub text: String,
}

/// One row of the claims table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimRow {
    pub id: &'static str,
    /// Where in the lab report the claim is made.
    pub section: &'static str,
    /// The claim in one English line.
    pub claim: &'static str,
    /// The claim in a few words, for the report's first screen.
    pub short: &'static str,
    /// Id of the report section whose figures decide the claim.
    pub evidence: &'static str,
    /// The original French sentence(s) of the lab report.
    pub french: &'static str,
    /// The rule and its threshold, in words.
    pub rule: &'static str,
    pub figures: Vec<Figure>,
    pub verdict: Verdict,
    /// The figures behind the verdict in one line (empty when not measured).
    pub because: String,
    /// The deciding figure in a few words (or, when not measured, the reason without
    /// its parenthesised details), for the report's first screen.
    pub headline: String,
    pub references: Vec<Reference>,
    pub note: Option<&'static str>,
}

/// The text of a claim, fixed; figures and verdict come from the run.
struct Claim {
    id: &'static str,
    section: &'static str,
    claim: &'static str,
    short: &'static str,
    evidence: &'static str,
    french: &'static str,
    rule: &'static str,
    references: &'static [Reference],
    note: Option<&'static str>,
}

const CLAIMS: [Claim; 15] = [
    Claim {
        id: "C1",
        section: "1.b virtualization cost",
        claim: "A hypervisor and its guest OS run background work that takes host memory and CPU; containers are much lighter.",
        short: "A VM's background work costs memory and CPU",
        evidence: "memory",
        french: "L’hyperviseur et le système d'exploitation “virtualisé” ont des tâches d'arrière-plan qui utilisent la mémoire et le CPU de l’OS hôte. […] Le déploiement d’un environnement appelé “micro-service”, est donc beaucoup plus léger en termes de mémoires, de performances et de CPU.",
        rule: "Supported when every VM's median idle host memory is at least 3x the heaviest container variant's and its idle CPU at least 1.5x; contradicted when VMs use no more memory (ratio ≤ 1) and no more CPU; mixed otherwise.",
        references: &[REF_FC_MEM],
        note: None,
    },
    Claim {
        id: "C2",
        section: "1.b usage of CPU, memory, network",
        claim: "A VM uses much more memory, even with no process running; its CPU overhead is small; containers also cut memory and network cost.",
        short: "A VM uses much more memory, little more CPU",
        evidence: "cpu",
        french: "En outre, une VM utilise beaucoup plus de ressources en terme de mémoire car elle consomme de la mémoire même si elle n’exécute pas de processus. L’utilisation du CPU n’est pas aussi importante car la virtualisation n’est pas très exigeante en puissance de calcul.",
        rule: "Supported when every VM's idle memory is at least 3x the heaviest container's AND its CPU per 1,000 requests at most 2x the container's (\"small CPU overhead\"); contradicted when memory ratio ≤ 1 and CPU ratio ≥ 5; mixed otherwise.",
        references: &[REF_FELTER_KVM],
        note: Some("Bytes on the wire per request are not observable from the host in this harness; network cost is judged on latency in C9/C10."),
    },
    Claim {
        id: "C3",
        section: "1.b security",
        claim: "A VM isolates better: containers share the host kernel and its resources, so a weakness in one can reach the others or the host.",
        short: "VMs isolate better than containers",
        evidence: "experiments",
        french: "En termes de sécurité, puisque tous les conteneurs partagent des ressources, si l’un d’entre eux est vulnérable, il pourrait rendre les autres vulnérables voir l’OS hôte.",
        rule: "Facts, not a score: supported when every container variant runs on the host's kernel and no VM does (probed from inside the workload); contradicted when the opposite holds; mixed otherwise.",
        references: &[],
        note: None,
    },
    Claim {
        id: "C4",
        section: "1.b performances (response time)",
        claim: "A VM takes much longer to start (full OS boot, init, services); a container starts much faster.",
        short: "A VM starts much more slowly than a container",
        evidence: "startup",
        french: "En termes de performances, VM prend beaucoup plus de temps à se lancer contrairement à un conteneur puisqu' il doit : Démarrer un système d’exploitation complet […] un conteneur est beaucoup plus rapide de par sa légèreté […] C’est donc très rapide à lancer ou modifier.",
        rule: "Supported when every VM platform's median startup is at least 5x the slowest container variant's; contradicted when every VM starts no slower (ratio ≤ 1); mixed otherwise.",
        references: &[REF_FC_BOOT],
        note: None,
    },
    Claim {
        id: "C5",
        section: "1.b tooling for continuous integration",
        claim: "A VM image is big (several GB) and hard to move between hypervisors; a container image is small and portable.",
        short: "A VM image is GBs, a container image small",
        evidence: "artifacts",
        french: "La taille de la VM est considérable ( plusieurs Go en général) […] Un conteneur est le meilleur support portable. Il est conçu pour être exporté et permettre de s’exécuter dans différentes machines.",
        rule: "Supported when the smallest VM disk image is at least 10x the container image AND at least 1 GiB (\"several GB\"); mixed when only the 10x ratio holds; contradicted when a VM disk is at most 2x the container image.",
        references: &[],
        note: Some("virtbench's VM appliance is deliberately minimal (kernel + initramfs + one static binary), so its disk is far smaller than a general-purpose guest's."),
    },
    Claim {
        id: "C6",
        section: "1.j administrator's view",
        claim: "Disk activity of one container can slow another (shared host resources).",
        short: "One container's disk activity slows another",
        evidence: "experiments",
        french: "Même si les librairies/bins sont séparées, un impact sur le disque dur d'un conteneur peut affecter un autre conteneur.",
        rule: "Supported when every container variant's p99 latency with a disk/CPU-hammering sibling is at least 1.5x its quiet p99; contradicted when at most 1.1x; mixed otherwise.",
        references: &[],
        note: None,
    },
    Claim {
        id: "C7",
        section: "2 LXC / Docker / rkt",
        claim: "Docker needs a daemon: if the daemon is killed, all containers die with it.",
        short: "Killing the Docker daemon kills its containers",
        evidence: "experiments",
        french: "S’exécute en tant que processus et a donc besoin d’un daemon qui gère les services des conteneurs, si ce daemon est tué tous les conteneurs le sont aussi",
        rule: "Supported when, in every trial, the calculator stopped answering after the engine daemon was killed; contradicted when it kept answering in every trial; mixed otherwise.",
        references: &[],
        note: Some("rkt (CoreOS \"Rocket\"), compared in the same section of the lab report, is discontinued: the project was archived in 2020."),
    },
    Claim {
        id: "C8",
        section: "3 hypervisor type 1 vs type 2",
        claim: "A bare-metal (type 1) hypervisor is faster than a hosted (type 2) one.",
        short: "A type 1 hypervisor is faster than a type 2",
        evidence: "startup",
        french: "Meilleure performance car il n’y a pas de couches intermédiaires […] Vitesse : Plus rapide / Plus lent car dépendant de l’OS",
        rule: "Compares hardware-assisted KVM against a hosted or emulated hypervisor (VirtualBox, or QEMU TCG) on median startup and median latency: supported when KVM is faster on every comparison; contradicted when slower on every one; mixed otherwise.",
        references: &[],
        note: Some("KVM turns the Linux kernel into the hypervisor (usually counted as type 1); QEMU TCG is pure emulation, a stand-in that exaggerates what a type 2 hypervisor costs."),
    },
    Claim {
        id: "C9",
        section: "4 NAT vs bridge",
        claim: "In NAT mode the guest is reachable from outside only through port forwarding; bridged mode puts it on the network like a PC.",
        short: "NAT hides a guest; bridged mode exposes it",
        evidence: "experiments",
        french: "Un autre poste que l'hôte ne pourra pas accéder à la VM. […] Si plusieurs machines doivent communiquer avec la VM, il faut utiliser le mode pont",
        rule: "Reachability facts: supported when no NAT-mode guest answers at its own address without a forward and every bridged/direct guest does; contradicted when the opposite holds; mixed otherwise. Latency through NAT vs direct is shown beside.",
        references: &[REF_FELTER_NAT],
        note: None,
    },
    Claim {
        id: "C10",
        section: "Obj. 4-5 port forwarding",
        claim: "Port forwarding (host 2222 to guest 22) makes a guest service reachable through the host.",
        short: "Port forwarding makes a guest service reachable",
        evidence: "latency",
        french: "En faisant correspondre le port de la VM à celui de l'hôte, toute personne souhaitant accéder au port 22 de notre VM doit simplement accéder au port 2222 de notre hôte (en envoyant le paquet à l'IP de l'hôte), et l'hôte traduira l'adresse IP.",
        rule: "Supported when every variant reached through a forwarded port (Docker published port, QEMU/VirtualBox NAT hostfwd) answered correctly with at most 1% failed requests; contradicted when none answered; mixed otherwise. The latency cost against the direct path is shown beside.",
        references: &[REF_FELTER_NAT],
        note: None,
    },
    Claim {
        id: "C11",
        section: "Obj. 4-5 duplication",
        claim: "Cloning a VM is easy.",
        short: "Cloning a VM is easy",
        evidence: "experiments",
        french: "Nous sommes parvenus sans difficulté à cloner la VM.",
        rule: "Supported when the fastest way to clone a VM disk (copy-on-write overlay or full copy) takes at most 5 s (median); contradicted when it takes more than 60 s; mixed in between. Starting one more container is shown beside.",
        references: &[],
        note: None,
    },
    Claim {
        id: "C12",
        section: "Obj. 5 docker commit / Dockerfile",
        claim: "A container can be saved as a new image by commit or rebuilt from a Dockerfile.",
        short: "docker commit or a Dockerfile makes an image",
        evidence: "experiments",
        french: "nous avons enregistré notre conteneur en créant une nouvelle image avec la commande « docker commit » […] Enfin, nous avons exploré une autre façon de créer un conteneur qui est le : Dockerfile.",
        rule: "Supported when both `docker commit` and a Dockerfile build produced an image; mixed when only one did; contradicted when both were attempted and neither did.",
        references: &[],
        note: None,
    },
    Claim {
        id: "C13",
        section: "Obj. 6-7 snapshot, restore, resize",
        claim: "OpenStack can resize a running VM (the console drops); VirtualBox must stop the VM first.",
        short: "OpenStack resizes a live VM, VirtualBox cannot",
        evidence: "experiments",
        french: "Cela montre la flexibilité d'OpenStack (le redimensionnement avec la machine éteinte ou allumée) en opposition à la VirtualBox (on doit arrêter la VM).",
        rule: "Supported when OpenStack resized a running VM and VirtualBox could not; contradicted when OpenStack could not and VirtualBox could; mixed otherwise. Snapshot and restore times are shown beside.",
        references: &[],
        note: None,
    },
    Claim {
        id: "C14",
        section: "Obj. 8-9 calculator",
        claim: "The calculator runs the same on five VMs and on five containers.",
        short: "Calculator runs the same on VMs and containers",
        evidence: "latency",
        french: "Nous avons créé 5 VMs : SumService, SubService, MulService, DivService et CalculatorService (CS). […] Nous avons ensuite fait la même chose avec Docker et avons automatisé le déploiement de l’application.",
        rule: "Supported when every VM and container variant answered with no wrong answer and at most 1% failed requests; contradicted when one gave a wrong answer or none correct; mixed otherwise (more than 1% failures).",
        references: &[REF_FELTER_EQUAL],
        note: None,
    },
    Claim {
        id: "C15",
        section: "Obj. 10-11 routed topology",
        claim: "Sub-services on 10.5.7.0/24 and the calculator on 10.5.8.0/24, joined by a router, still work end to end.",
        short: "Calculator works across two routed networks",
        evidence: "latency",
        french: "Nous plaçons nos sous-services sur le réseau 10.5.7.0/24, et notre service Calculatrice principale sur son propre réseau 10.5.8.0/24 . Ces deux réseaux sont inter-accessibles par le biais d’un routeur directement connecté aux deux réseaux (RT2).",
        rule: "Supported when every routed two-network variant answered with no wrong answer and at most 1% failed requests; contradicted when one gave a wrong answer or none correct; mixed otherwise. The latency cost of the extra hop is shown beside.",
        references: &[],
        note: None,
    },
];

/// A value for one platform variant, by display label.
pub type Named = (String, f64);

/// All at or above `support_at` -> supported; all at or below `contradict_at` ->
/// contradicted; otherwise mixed. Higher ratios speak for the claim.
fn classify_high(values: &[Named], support_at: f64, contradict_at: f64) -> Verdict {
    if values.iter().all(|(_, v)| *v >= support_at) {
        Verdict::Supported
    } else if values.iter().all(|(_, v)| *v <= contradict_at) {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    }
}

/// Lower values speak for the claim.
fn classify_low(values: &[Named], support_at: f64, contradict_at: f64) -> Verdict {
    if values.iter().all(|(_, v)| *v <= support_at) {
        Verdict::Supported
    } else if values.iter().all(|(_, v)| *v >= contradict_at) {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    }
}

/// Two partial verdicts into one: agreeing parts stand, disagreeing parts are mixed.
fn combine(a: &Verdict, b: Option<&Verdict>) -> Verdict {
    match b {
        None => a.clone(),
        Some(b) if a == b => a.clone(),
        Some(_) => Verdict::Mixed,
    }
}

/// Each of `values` divided by the largest of `reference` (the conservative choice:
/// a VM must beat the heaviest container).
fn ratios(values: &[Named], reference: &[Named]) -> (String, Vec<Named>) {
    let (ref_label, ref_value) =
        reference
            .iter()
            .cloned()
            .fold((String::new(), f64::NEG_INFINITY), |a, b| {
                if b.1 > a.1 {
                    b
                } else {
                    a
                }
            });
    let out = values
        .iter()
        .map(|(l, v)| {
            let r = if ref_value > 0.0 {
                v / ref_value
            } else if *v > 0.0 {
                f64::INFINITY
            } else {
                1.0
            };
            (l.clone(), r)
        })
        .collect();
    (ref_label, out)
}

fn list_ratios(rs: &[Named], vs: &str) -> String {
    rs.iter()
        .map(|(l, r)| format!("{l} {} {vs}", fmt_ratio(*r)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// C1: idle host memory and idle CPU of VMs against containers.
pub fn rule_c1(vm_mem: &[Named], ct_mem: &[Named], vm_cpu: &[Named], ct_cpu: &[Named]) -> Outcome {
    if vm_mem.is_empty() || ct_mem.is_empty() {
        return not_measured("idle memory of both a VM and a container platform is needed");
    }
    let (ref_mem, mem) = ratios(vm_mem, ct_mem);
    let mem_v = classify_high(&mem, 3.0, 1.0);
    let mut because = format!("idle memory: {}", list_ratios(&mem, &ref_mem));
    let mut headline = format!("VM/container: idle memory {}", ratio_span(&mem));
    let cpu_v = if !vm_cpu.is_empty() && !ct_cpu.is_empty() {
        let (ref_cpu, cpu) = ratios(vm_cpu, ct_cpu);
        because.push_str(&format!("; idle CPU: {}", list_ratios(&cpu, &ref_cpu)));
        headline.push_str(&format!(", CPU {}", ratio_span(&cpu)));
        Some(classify_high(&cpu, 1.5, 1.0))
    } else {
        because.push_str("; idle CPU not measured, judged on memory alone");
        None
    };
    outcome(combine(&mem_v, cpu_v.as_ref()), headline, because)
}

/// C2: idle memory much higher in VMs, CPU per request only a little higher.
pub fn rule_c2(
    vm_mem: &[Named],
    ct_mem: &[Named],
    vm_cpu1k: &[Named],
    ct_cpu1k: &[Named],
) -> Outcome {
    if vm_mem.is_empty() || ct_mem.is_empty() {
        return not_measured("idle memory of both a VM and a container platform is needed");
    }
    let (ref_mem, mem) = ratios(vm_mem, ct_mem);
    let mem_v = classify_high(&mem, 3.0, 1.0);
    let mut because = format!("idle memory: {}", list_ratios(&mem, &ref_mem));
    let mut headline = format!("VM/container: memory {}", ratio_span(&mem));
    let cpu_v = if !vm_cpu1k.is_empty() && !ct_cpu1k.is_empty() {
        let (ref_cpu, cpu) = ratios(vm_cpu1k, ct_cpu1k);
        because.push_str(&format!(
            "; CPU per 1,000 requests: {}",
            list_ratios(&cpu, &ref_cpu)
        ));
        headline.push_str(&format!(", CPU/request {}", ratio_span(&cpu)));
        Some(classify_low(&cpu, 2.0, 5.0))
    } else {
        because.push_str("; CPU per request not measured, judged on memory alone");
        None
    };
    outcome(combine(&mem_v, cpu_v.as_ref()), headline, because)
}

/// C3: 1 = the workload runs on the host's kernel, 0 = its own kernel.
pub fn rule_c3(ct_shared: &[Named], vm_shared: &[Named]) -> Outcome {
    if ct_shared.is_empty() && vm_shared.is_empty() {
        return not_measured("isolation probe not run");
    }
    let fact = |v: &Named| {
        format!(
            "{} {}",
            v.0,
            if v.1 >= 0.5 {
                "shares the host kernel"
            } else {
                "has its own kernel"
            }
        )
    };
    let because = ct_shared
        .iter()
        .chain(vm_shared)
        .map(fact)
        .collect::<Vec<_>>()
        .join("; ");
    let ct_ok = ct_shared.iter().all(|(_, v)| *v >= 0.5);
    let vm_ok = vm_shared.iter().all(|(_, v)| *v < 0.5);
    let ct_rev = !ct_shared.is_empty() && ct_shared.iter().all(|(_, v)| *v < 0.5);
    let vm_rev = !vm_shared.is_empty() && vm_shared.iter().all(|(_, v)| *v >= 0.5);
    let v = if ct_shared.is_empty() || vm_shared.is_empty() {
        Verdict::Mixed
    } else if ct_ok && vm_ok {
        Verdict::Supported
    } else if ct_rev && vm_rev {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    let because = if ct_shared.is_empty() || vm_shared.is_empty() {
        format!("{because} (only one side probed)")
    } else {
        because
    };
    let shares = |v: &Named| v.1 >= 0.5;
    let headline = format!(
        "host kernel shared: {} containers, {} VMs",
        count_of(ct_shared, shares),
        count_of(vm_shared, shares)
    );
    outcome(v, headline, because)
}

/// C4: median startup of each VM against the slowest container.
pub fn rule_c4(vm: &[Named], ct: &[Named]) -> Outcome {
    if vm.is_empty() || ct.is_empty() {
        return not_measured("startup of both a VM and a container platform is needed");
    }
    let (ref_label, rs) = ratios(vm, ct);
    outcome(
        classify_high(&rs, 5.0, 1.0),
        format!("VM startup {} a container's", ratio_span(&rs)),
        format!(
            "median startup: {}",
            list_ratios(&rs, &format!("slower than {ref_label}"))
        ),
    )
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// C5: VM disk image sizes (bytes) against container image sizes.
pub fn rule_c5(vm_disks: &[Named], ct_images: &[Named]) -> Outcome {
    if vm_disks.is_empty() || ct_images.is_empty() {
        return not_measured("both a VM disk image and a container image are needed");
    }
    let smallest = vm_disks
        .iter()
        .cloned()
        .fold((String::new(), f64::INFINITY), |a, b| {
            if b.1 < a.1 {
                b
            } else {
                a
            }
        });
    let (ref_label, rs) = ratios(std::slice::from_ref(&smallest), ct_images);
    let ratio = rs[0].1;
    let v = if ratio <= 2.0 {
        Verdict::Contradicted
    } else if ratio >= 10.0 && smallest.1 >= GIB {
        Verdict::Supported
    } else {
        Verdict::Mixed
    };
    outcome(
        v,
        format!(
            "smallest VM disk {}, {} the image",
            fmt_bytes(smallest.1),
            fmt_ratio(ratio)
        ),
        format!(
            "smallest VM disk {} ({}) is {} the container image {}; {} GiB is {} 1 GiB",
            smallest.0,
            fmt_bytes(smallest.1),
            fmt_ratio(ratio),
            ref_label,
            fmt_num(smallest.1 / GIB),
            if smallest.1 >= GIB {
                "at least"
            } else {
                "under"
            }
        ),
    )
}

/// C6: (label, quiet p99, p99 with a noisy sibling) per container variant.
pub fn rule_c6(pairs: &[(String, f64, f64)]) -> Outcome {
    if pairs.is_empty() {
        return not_measured("noisy-neighbour test not run");
    }
    let rs: Vec<Named> = pairs
        .iter()
        .map(|(l, q, n)| (l.clone(), if *q > 0.0 { n / q } else { f64::INFINITY }))
        .collect();
    outcome(
        classify_high(&rs, 1.5, 1.1),
        format!("p99 with a noisy neighbour: {} quiet", ratio_span(&rs)),
        format!(
            "p99 with a noisy neighbour: {}",
            list_ratios(&rs, "the quiet p99")
        ),
    )
}

/// C7: per container engine, fraction of trials where the calculator kept answering after
/// the daemon was killed.
pub fn rule_c7(survived: &[Named]) -> Outcome {
    if survived.is_empty() {
        return not_measured("daemon-kill fault test not run");
    }
    let because = survived
        .iter()
        .map(|(l, s)| format!("{l}: kept answering in {}% of trials", fmt_num(s * 100.0)))
        .collect::<Vec<_>>()
        .join("; ");
    let lo = survived.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    let hi = survived
        .iter()
        .map(|s| s.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let headline = if fmt_num(lo * 100.0) == fmt_num(hi * 100.0) {
        format!(
            "still answering after the kill in {}% of trials",
            fmt_num(hi * 100.0)
        )
    } else {
        format!(
            "still answering after the kill in {}–{}% of trials",
            fmt_num(lo * 100.0),
            fmt_num(hi * 100.0)
        )
    };
    // The claim is that containers die: a survival fraction of 0 supports it.
    outcome(classify_low(survived, 0.0, 1.0), headline, because)
}

/// C8: (what, KVM figure, hosted/emulated figure); lower is faster.
pub fn rule_c8(comparisons: &[(String, f64, f64)]) -> Outcome {
    if comparisons.is_empty() {
        return not_measured("a KVM VM and a hosted or emulated VM are both needed");
    }
    let faster = comparisons.iter().filter(|(_, k, s)| k < s).count();
    let v = if faster == comparisons.len() {
        Verdict::Supported
    } else if faster == 0 {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    let because = comparisons
        .iter()
        .map(|(w, k, s)| format!("{w}: KVM {} vs {}", fmt_num(*k), fmt_num(*s)))
        .collect::<Vec<_>>()
        .join("; ");
    let headline = format!(
        "KVM faster in {faster} of {} comparisons",
        comparisons.len()
    );
    outcome(v, headline, because)
}

/// C9: 1 = the guest answered at its own address with no forward, 0 = it did not.
pub fn rule_c9(nat: &[Named], direct: &[Named]) -> Outcome {
    if nat.is_empty() && direct.is_empty() {
        return not_measured("reachability matrix not probed in this run");
    }
    let fact = |v: &Named| {
        format!(
            "{} {}",
            v.0,
            if v.1 >= 0.5 {
                "reachable without a forward"
            } else {
                "unreachable without a forward"
            }
        )
    };
    let because = nat
        .iter()
        .chain(direct)
        .map(fact)
        .collect::<Vec<_>>()
        .join("; ");
    let nat_ok = nat.iter().all(|(_, v)| *v < 0.5);
    let direct_ok = direct.iter().all(|(_, v)| *v >= 0.5);
    let nat_rev = nat.iter().all(|(_, v)| *v >= 0.5);
    let direct_rev = direct.iter().all(|(_, v)| *v < 0.5);
    let v = if nat.is_empty() || direct.is_empty() {
        Verdict::Mixed
    } else if nat_ok && direct_ok {
        Verdict::Supported
    } else if nat_rev && direct_rev {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    let reachable = |v: &Named| v.1 >= 0.5;
    let headline = format!(
        "reachable without a forward: NAT {}, direct {}",
        count_of(nat, reachable),
        count_of(direct, reachable)
    );
    outcome(v, headline, because)
}

/// Request outcomes of one variant over all its load runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub label: String,
    pub correct: u64,
    /// Transport errors, timeouts and non-2xx statuses.
    pub failed: u64,
    pub wrong: u64,
}

impl Health {
    fn failure_rate(&self) -> f64 {
        let total = self.correct + self.failed + self.wrong;
        if total == 0 {
            1.0
        } else {
            self.failed as f64 / total as f64
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: {} correct, {} failed, {} wrong",
            self.label, self.correct, self.failed, self.wrong
        )
    }
}

/// Works end to end: no wrong answer, at most 1% failures.
fn works(items: &[Health]) -> Verdict {
    if items.iter().any(|h| h.wrong > 0 || h.correct == 0) {
        if items.iter().all(|h| h.correct == 0) || items.iter().any(|h| h.wrong > 0) {
            return Verdict::Contradicted;
        }
        return Verdict::Mixed;
    }
    if items.iter().all(|h| h.failure_rate() <= 0.01) {
        Verdict::Supported
    } else {
        Verdict::Mixed
    }
}

/// "4 of 4 answered, 0 wrong, ≤ 0.200% failed".
fn health_headline(items: &[Health]) -> String {
    let wrong: u64 = items.iter().map(|h| h.wrong).sum();
    let worst = items.iter().map(Health::failure_rate).fold(0.0, f64::max);
    format!(
        "{} answered, {wrong} wrong, ≤ {}% failed",
        count_of(items, |h| h.correct > 0),
        fmt_num(worst * 100.0)
    )
}

fn describe_all(items: &[Health]) -> String {
    items
        .iter()
        .map(Health::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// C10: variants reached through a forwarded port.
pub fn rule_c10(forwarded: &[Health]) -> Outcome {
    if forwarded.is_empty() {
        return not_measured("no variant reached through a forwarded port was measured");
    }
    // None answering is a contradiction; a wrong answer is a calculator fault, not the
    // forward's, so only reachability counts here.
    let v = if forwarded.iter().all(|h| h.correct == 0) {
        Verdict::Contradicted
    } else if forwarded
        .iter()
        .all(|h| h.correct > 0 && h.failure_rate() <= 0.01)
    {
        Verdict::Supported
    } else {
        Verdict::Mixed
    };
    outcome(v, health_headline(forwarded), describe_all(forwarded))
}

/// C11: clone medians in ms (overlay and full, per VM platform).
pub fn rule_c11(clone_ms: &[Named]) -> Outcome {
    if clone_ms.is_empty() {
        return not_measured("VM clone experiment not run");
    }
    let best = clone_ms
        .iter()
        .cloned()
        .fold((String::new(), f64::INFINITY), |a, b| {
            if b.1 < a.1 {
                b
            } else {
                a
            }
        });
    let v = if best.1 <= 5000.0 {
        Verdict::Supported
    } else if best.1 > 60000.0 {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    outcome(
        v,
        format!("fastest clone: {}", fmt_ms(best.1)),
        format!("fastest clone: {} in {}", best.0, fmt_ms(best.1)),
    )
}

/// C12: successful samples of `docker commit` and of a Dockerfile build; `None` when the
/// experiment was not attempted, `Some(0)` when it was and failed.
pub fn rule_c12(commit: Option<usize>, build: Option<usize>) -> Outcome {
    let ok = |x: Option<usize>| x.is_some_and(|n| n > 0);
    match (commit, build) {
        (None, None) => not_measured("docker commit / build experiment not run"),
        _ if ok(commit) && ok(build) => outcome(
            Verdict::Supported,
            "commit and build both made an image",
            "both docker commit and docker build produced an image",
        ),
        _ if ok(commit) || ok(build) => {
            let which = if ok(commit) {
                "docker commit"
            } else {
                "docker build"
            };
            outcome(
                Verdict::Mixed,
                format!("only {which} made an image"),
                format!("only {which} produced an image"),
            )
        }
        (Some(_), Some(_)) => outcome(
            Verdict::Contradicted,
            "neither made an image",
            "neither docker commit nor docker build produced an image",
        ),
        _ => outcome(
            Verdict::Mixed,
            "one attempted, and it failed",
            "only one of docker commit / docker build was attempted, and it failed",
        ),
    }
}

/// C13: fraction of attempts in which a running VM was resized without stopping it.
pub fn rule_c13(openstack_live: Option<f64>, virtualbox_live: Option<f64>) -> Outcome {
    let (Some(os), Some(vb)) = (openstack_live, virtualbox_live) else {
        return not_measured("live resize needs both OpenStack and VirtualBox");
    };
    let because = format!(
        "OpenStack resized a running VM in {}% of attempts, VirtualBox in {}%",
        fmt_num(os * 100.0),
        fmt_num(vb * 100.0)
    );
    let headline = format!(
        "live resize: OpenStack {}%, VirtualBox {}%",
        fmt_num(os * 100.0),
        fmt_num(vb * 100.0)
    );
    let v = if os > 0.0 && vb == 0.0 {
        Verdict::Supported
    } else if os == 0.0 && vb > 0.0 {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    outcome(v, headline, because)
}

/// C14: every VM and container variant computes the same correct answers.
pub fn rule_c14(vms: &[Health], containers: &[Health]) -> Outcome {
    if vms.is_empty() || containers.is_empty() {
        return not_measured(
            "the calculator must have been loaded on both a VM and a container platform",
        );
    }
    let all: Vec<Health> = vms.iter().chain(containers).cloned().collect();
    outcome(works(&all), health_headline(&all), describe_all(&all))
}

/// C15: routed two-network variants work end to end.
pub fn rule_c15(routed: &[Health]) -> Outcome {
    if routed.is_empty() {
        return not_measured("routed two-network topology not run");
    }
    outcome(works(routed), health_headline(routed), describe_all(routed))
}

// ---- gathering the figures of a run ----

fn of_kind(r: &RunResults, k: Kind) -> Vec<&PlatformResult> {
    view::measured(r).filter(|p| view::kind(p) == k).collect()
}

fn named(ps: &[&PlatformResult], f: impl Fn(&PlatformResult) -> Option<f64>) -> Vec<Named> {
    ps.iter()
        .filter_map(|p| f(p).map(|v| (view::display(p), v)))
        .collect()
}

fn extra(p: &PlatformResult, name: &str) -> Option<f64> {
    p.extras
        .get(name)
        .filter(|s| s.summary.n > 0)
        .map(|s| s.summary.median)
}

fn health(p: &PlatformResult) -> Option<Health> {
    if p.latency_us.is_empty() {
        return None;
    }
    Some(Health {
        label: view::display(p),
        correct: p.latency_us.iter().map(|l| l.count).sum(),
        failed: p.latency_us.iter().map(|l| l.errors).sum(),
        wrong: p.latency_us.iter().map(|l| l.wrong_answers).sum(),
    })
}

/// p50 latency at the lowest rate the platform was loaded at.
fn p50(p: &PlatformResult) -> Option<(f64, f64)> {
    p.latency_us
        .iter()
        .filter(|l| l.count > 0)
        .min_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps))
        .map(|l| (l.rate_rps, l.p50))
}

/// Why no figure exists for platform `name`: unavailable (with its reason), not in the
/// scenario, or available but silent.
fn why_missing(r: &RunResults, name: &str, pretty: &str) -> String {
    let ps: Vec<&PlatformResult> = r.platforms.iter().filter(|p| p.name == name).collect();
    if ps.is_empty() {
        return format!("{pretty} not in this run's scenario");
    }
    if let Some(p) = ps.iter().find(|p| !p.available) {
        return format!(
            "no {pretty} on this host ({})",
            p.unavailable_reason.as_deref().unwrap_or("unavailable")
        );
    }
    if let Some(p) = ps.iter().find(|p| p.error.is_some()) {
        return format!(
            "{pretty} failed: {}",
            p.error.as_deref().unwrap_or_default()
        );
    }
    format!("{pretty} did not record the figures this claim needs")
}

fn kind_missing(r: &RunResults, k: Kind) -> String {
    match k {
        Kind::Container => why_missing(r, "docker", "Docker"),
        _ => {
            let reasons: Vec<String> = [
                ("qemu", "QEMU"),
                ("virtualbox", "VirtualBox"),
                ("openstack", "OpenStack"),
            ]
            .iter()
            .map(|(n, pretty)| why_missing(r, n, pretty))
            .collect();
            format!("no VM measured: {}", reasons.join("; "))
        }
    }
}

/// The missing side of a VM-vs-container claim, or None when both sides have figures.
fn sides_missing(r: &RunResults, vm: &[Named], ct: &[Named], what: &str) -> Option<String> {
    if vm.is_empty() && !of_kind(r, Kind::Vm).is_empty() {
        return Some(format!("no VM recorded {what}"));
    }
    if vm.is_empty() {
        return Some(kind_missing(r, Kind::Vm));
    }
    if ct.is_empty() && !of_kind(r, Kind::Container).is_empty() {
        return Some(format!("no container recorded {what}"));
    }
    if ct.is_empty() {
        return Some(kind_missing(r, Kind::Container));
    }
    None
}

fn tcg_caveat(r: &RunResults) -> Option<String> {
    let tcg: Vec<String> = of_kind(r, Kind::Vm)
        .into_iter()
        .filter(|p| view::is_tcg(p))
        .map(view::display)
        .collect();
    (!tcg.is_empty()).then(|| {
        format!(
            " Caution: {} ran under QEMU TCG (emulation, no KVM): its CPU, startup and latency are far worse than a hardware-assisted VM's.",
            tcg.join(", ")
        )
    })
}

fn fig(p: &PlatformResult, text: String) -> Figure {
    Figure {
        platform: view::display(p),
        text,
    }
}

fn series_figs(
    ps: &[&PlatformResult],
    what: &str,
    get: impl Fn(&PlatformResult) -> Option<&crate::stats::Series>,
) -> Vec<Figure> {
    ps.iter()
        .filter_map(|p| get(p).map(|s| fig(p, format!("{what} {}", view::describe(s)))))
        .collect()
}

/// Judge every claim against the run. Always 15 rows, in ID order.
pub fn evaluate(r: &RunResults) -> Vec<ClaimRow> {
    let vms = of_kind(r, Kind::Vm);
    let cts = of_kind(r, Kind::Container);
    let natives = of_kind(r, Kind::Native);
    let vm_and_ct: Vec<&PlatformResult> = vms.iter().chain(&cts).copied().collect();
    let with_native: Vec<&PlatformResult> = natives.iter().chain(&vm_and_ct).copied().collect();
    let caveat = tcg_caveat(r);

    CLAIMS
        .iter()
        .map(|c| {
            let (figures, mut out) = match c.id {
                "C1" => {
                    let mem = |p: &PlatformResult| view::median(&p.memory_idle_bytes);
                    let cpu = |p: &PlatformResult| p.cpu_idle_seconds.as_ref().map(|c| c.total_seconds);
                    let (vm_m, ct_m) = (named(&vms, mem), named(&cts, mem));
                    let mut figs = series_figs(&with_native, "idle memory", |p| p.memory_idle_bytes.as_ref());
                    figs.extend(with_native.iter().filter_map(|p| {
                        p.cpu_idle_seconds.as_ref().map(|c| fig(p, format!("idle CPU {} s over {} s", fmt_num(c.total_seconds), fmt_num(c.window_s))))
                    }));
                    let o = match sides_missing(r, &vm_m, &ct_m, "idle memory") {
                        Some(why) => not_measured(why),
                        None => rule_c1(&vm_m, &ct_m, &named(&vms, cpu), &named(&cts, cpu)),
                    };
                    (figs, o)
                }
                "C2" => {
                    let mem = |p: &PlatformResult| view::median(&p.memory_idle_bytes);
                    let cpu = |p: &PlatformResult| view::median(&p.cpu_seconds_per_1k_requests);
                    let (vm_m, ct_m) = (named(&vms, mem), named(&cts, mem));
                    let mut figs = series_figs(&with_native, "idle memory", |p| p.memory_idle_bytes.as_ref());
                    figs.extend(series_figs(&with_native, "loaded memory", |p| p.memory_load_bytes.as_ref()));
                    figs.extend(series_figs(&with_native, "CPU per 1,000 requests", |p| p.cpu_seconds_per_1k_requests.as_ref()));
                    figs.extend(series_figs(&with_native, "bytes on the wire per request", |p| p.extras.get("wire_bytes_per_request")));
                    let o = match sides_missing(r, &vm_m, &ct_m, "idle memory") {
                        Some(why) => not_measured(why),
                        None => rule_c2(&vm_m, &ct_m, &named(&vms, cpu), &named(&cts, cpu)),
                    };
                    (figs, o)
                }
                "C3" => {
                    let shared = |p: &PlatformResult| extra(p, "isolation_shared_kernel");
                    let figs: Vec<Figure> = with_native
                        .iter()
                        .flat_map(|p| {
                            p.extras
                                .iter()
                                .filter(|(k, s)| k.starts_with("isolation_") && s.summary.n > 0)
                                .map(|(k, s)| fig(p, format!("{}: {}", k.trim_start_matches("isolation_").replace('_', " "), view::describe(s))))
                        })
                        .collect();
                    (figs, rule_c3(&named(&cts, shared), &named(&vms, shared)))
                }
                "C4" => {
                    let st = |p: &PlatformResult| view::median(&p.startup_ms);
                    let (vm_s, ct_s) = (named(&vms, st), named(&cts, st));
                    let figs = series_figs(&with_native, "startup", |p| p.startup_ms.as_ref());
                    let o = match sides_missing(r, &vm_s, &ct_s, "startup") {
                        Some(why) => not_measured(why),
                        None => rule_c4(&vm_s, &ct_s),
                    };
                    (figs, o)
                }
                "C5" => {
                    let disks = |ps: &[&PlatformResult]| -> Vec<Named> {
                        ps.iter()
                            .flat_map(|p| p.artifacts.iter().filter(|a| a.name.starts_with("disk")).map(|a| (format!("{} {}", view::display(p), a.name), a.bytes as f64)))
                            .collect()
                    };
                    let images = |ps: &[&PlatformResult]| -> Vec<Named> {
                        ps.iter()
                            .flat_map(|p| p.artifacts.iter().filter(|a| a.name.contains("image")).map(|a| (format!("{} {}", view::display(p), a.name), a.bytes as f64)))
                            .collect()
                    };
                    let (d, i) = (disks(&vms), images(&cts));
                    let mut figs: Vec<Figure> = vm_and_ct
                        .iter()
                        .flat_map(|p| {
                            p.artifacts.iter().map(|a| {
                                let built = a.build_ms.map(|b| format!(", built in {}", fmt_ms(b))).unwrap_or_else(|| ", from cache".into());
                                fig(p, format!("{} {}{built}", a.name, fmt_bytes(a.bytes as f64)))
                            })
                        })
                        .collect();
                    for name in ["image_export_ms", "image_import_ms"] {
                        figs.extend(series_figs(&vm_and_ct, &name.trim_end_matches("_ms").replace('_', " "), |p| p.extras.get(name)));
                    }
                    let o = if d.is_empty() {
                        not_measured(if vms.is_empty() { kind_missing(r, Kind::Vm) } else { "no VM disk image recorded".into() })
                    } else if i.is_empty() {
                        not_measured(if cts.is_empty() { kind_missing(r, Kind::Container) } else { "no container image recorded".into() })
                    } else {
                        rule_c5(&d, &i)
                    };
                    (figs, o)
                }
                "C6" => {
                    let pairs: Vec<(String, f64, f64)> = cts
                        .iter()
                        .filter_map(|p| Some((view::display(p), extra(p, "noisy_baseline_p99_us")?, extra(p, "noisy_neighbour_p99_us")?)))
                        .collect();
                    let figs = pairs
                        .iter()
                        .map(|(l, q, n)| Figure { platform: l.clone(), text: format!("p99 quiet {}, with noisy neighbour {}", fmt_us(*q), fmt_us(*n)) })
                        .collect();
                    let o = if cts.is_empty() { not_measured(kind_missing(r, Kind::Container)) } else { rule_c6(&pairs) };
                    (figs, o)
                }
                "C7" => {
                    let s = named(&cts, |p| extra(p, "daemon_kill_survived"));
                    let o = if cts.is_empty() { not_measured(kind_missing(r, Kind::Container)) } else { rule_c7(&s) };
                    (Vec::new(), o)
                }
                "C8" => c8(r, &vms),
                "C9" => {
                    let reach = |p: &PlatformResult| extra(p, "reach_guest_direct");
                    let nat: Vec<&PlatformResult> = vm_and_ct.iter().copied().filter(|p| is_forwarded(p)).collect();
                    let direct: Vec<&PlatformResult> = vm_and_ct.iter().copied().filter(|p| !is_forwarded(p)).collect();
                    let mut figs = latency_figs(&with_native);
                    figs.extend(with_native.iter().filter_map(|p| reach(p).map(|v| fig(p, format!("answers at its own address without a forward: {}", if v >= 0.5 { "yes" } else { "no" })))));
                    (figs, rule_c9(&named(&nat, reach), &named(&direct, reach)))
                }
                "C10" => {
                    let fwd: Vec<Health> = vm_and_ct.iter().filter(|p| is_forwarded(p)).filter_map(|p| health(p)).collect();
                    let mut figs = latency_figs(&with_native);
                    figs.extend(with_native.iter().filter_map(|p| {
                        p.max_throughput_rps.as_ref().map(|t| fig(p, format!("max throughput {} requests/s", fmt_num(t.rps))))
                    }));
                    let o = if fwd.is_empty() && vm_and_ct.is_empty() {
                        not_measured(format!("{}; {}", kind_missing(r, Kind::Container), kind_missing(r, Kind::Vm)))
                    } else {
                        rule_c10(&fwd)
                    };
                    (figs, o)
                }
                "C11" => {
                    let mut clones = Vec::new();
                    let mut figs = Vec::new();
                    for p in &vms {
                        for (key, how) in [("vm_clone_overlay_ms", "copy-on-write overlay clone"), ("vm_clone_full_ms", "full disk copy clone")] {
                            if let Some(s) = p.extras.get(key).filter(|s| s.summary.n > 0) {
                                clones.push((format!("{} ({how})", view::display(p)), s.summary.median));
                                figs.push(fig(p, format!("{how} {}", view::describe(s))));
                            }
                        }
                        for (key, how) in [("vm_clone_overlay_bytes", "overlay clone disk cost"), ("vm_clone_full_bytes", "full clone disk cost")] {
                            if let Some(s) = p.extras.get(key).filter(|s| s.summary.n > 0) {
                                figs.push(fig(p, format!("{how} {}", fmt_bytes(s.summary.median))));
                            }
                        }
                    }
                    figs.extend(series_figs(&cts, "one more container (startup)", |p| p.startup_ms.as_ref()));
                    let o = if vms.is_empty() { not_measured(kind_missing(r, Kind::Vm)) } else { rule_c11(&clones) };
                    (figs, o)
                }
                "C12" => {
                    let count = |key: &str| cts.iter().filter_map(|p| p.extras.get(key)).map(|s| s.summary.n).max();
                    let mut figs = Vec::new();
                    for (key, what) in [
                        ("docker_commit_ms", "docker commit"),
                        ("docker_build_ms", "docker build (Dockerfile)"),
                        ("docker_commit_image_bytes", "committed image"),
                        ("docker_build_image_bytes", "built image"),
                    ] {
                        figs.extend(series_figs(&cts, what, |p| p.extras.get(key)));
                    }
                    let o = if cts.is_empty() { not_measured(kind_missing(r, Kind::Container)) } else { rule_c12(count("docker_commit_ms"), count("docker_build_ms")) };
                    (figs, o)
                }
                "C13" => {
                    let live = |name: &str| r.platforms.iter().filter(|p| p.available && p.name == name).find_map(|p| extra(p, "resize_live_ok"));
                    let mut figs = Vec::new();
                    for (key, what) in [("snapshot_ms", "snapshot"), ("restore_ms", "restore"), ("resize_ms", "resize"), ("resize_downtime_ms", "service downtime during resize")] {
                        figs.extend(series_figs(&vm_and_ct, what, |p| p.extras.get(key)));
                    }
                    let (os, vb) = (live("openstack"), live("virtualbox"));
                    let o = match (os, vb) {
                        (Some(_), Some(_)) => rule_c13(os, vb),
                        _ => {
                            let mut why = Vec::new();
                            if os.is_none() {
                                why.push(why_missing(r, "openstack", "OpenStack"));
                            }
                            if vb.is_none() {
                                why.push(why_missing(r, "virtualbox", "VirtualBox"));
                            }
                            not_measured(why.join("; "))
                        }
                    };
                    (figs, o)
                }
                "C14" => {
                    let hv: Vec<Health> = vms.iter().filter_map(|p| health(p)).collect();
                    let hc: Vec<Health> = cts.iter().filter_map(|p| health(p)).collect();
                    let mut figs = latency_figs(&with_native);
                    figs.extend(with_native.iter().filter_map(|p| health(p).map(|h| fig(p, format!("{} correct, {} failed, {} wrong answers", h.correct, h.failed, h.wrong)))));
                    let o = if hv.is_empty() {
                        not_measured(if vms.is_empty() { kind_missing(r, Kind::Vm) } else { "no VM was loaded".into() })
                    } else if hc.is_empty() {
                        not_measured(if cts.is_empty() { kind_missing(r, Kind::Container) } else { "no container was loaded".into() })
                    } else {
                        rule_c14(&hv, &hc)
                    };
                    (figs, o)
                }
                "C15" => {
                    let routed: Vec<&PlatformResult> = with_native.iter().copied().filter(|p| p.variant.get("topology").is_some_and(|t| t == "routed")).collect();
                    let mut figs = Vec::new();
                    for p in &routed {
                        if let Some((rate, v)) = p50(p) {
                            let flat = with_native
                                .iter()
                                .filter(|q| q.name == p.name && q.variant.get("topology").map_or(true, |t| t != "routed"))
                                .find_map(|q| q.latency_us.iter().find(|l| l.rate_rps == rate && l.count > 0).map(|l| (view::display(q), l.p50)));
                            let text = match flat {
                                Some((fl, fv)) => format!("p50 {} at {} req/s vs {} on {fl} ({}{} for the routed hop)", fmt_us(v), view::fmt_rate(rate), fmt_us(fv), if v >= fv { "+" } else { "-" }, fmt_us((v - fv).abs())),
                                None => format!("p50 {} at {} req/s", fmt_us(v), view::fmt_rate(rate)),
                            };
                            figs.push(fig(p, text));
                        }
                    }
                    let hs: Vec<Health> = routed.iter().filter_map(|p| health(p)).collect();
                    let o = if routed.is_empty() { not_measured("routed two-network topology (10.5.7.0/24 + 10.5.8.0/24 via a router) not in this run's scenario") } else { rule_c15(&hs) };
                    (figs, o)
                }
                _ => unreachable!("CLAIMS has exactly C1-C15"),
            };
            if let (Some(cv), "C1" | "C2" | "C4" | "C14") = (&caveat, c.id) {
                if !matches!(out.verdict, Verdict::NotMeasured(_)) {
                    out.because.push('.');
                    out.because.push_str(cv);
                    // The few words on the first screen must not pass for KVM figures.
                    out.headline.push_str(" [TCG]");
                }
            }
            ClaimRow {
                id: c.id,
                section: c.section,
                claim: c.claim,
                french: c.french,
                rule: c.rule,
                figures,
                verdict: out.verdict,
                because: out.because,
                headline: out.headline,
                short: c.short,
                evidence: c.evidence,
                references: c.references.to_vec(),
                note: c.note,
            }
        })
        .collect()
}

/// Reached through a forwarded port: Docker's published port (bridge), NAT + hostfwd.
fn is_forwarded(p: &PlatformResult) -> bool {
    matches!(
        (p.name.as_str(), view::network(p)),
        ("docker", Some("bridge")) | (_, Some("nat")) | ("virtualbox", None)
    )
}

/// p50 at the lowest rate per platform, with the direct-path difference for forwarded
/// variants.
fn latency_figs(ps: &[&PlatformResult]) -> Vec<Figure> {
    ps.iter()
        .filter_map(|p| {
            let (rate, v) = p50(p)?;
            let path = if is_forwarded(p) {
                "forwarded port"
            } else {
                "direct"
            };
            let mut text = format!(
                "p50 {} at {} req/s ({path})",
                fmt_us(v),
                view::fmt_rate(rate)
            );
            if is_forwarded(p) {
                // The same platform's direct variant at the same rate, if any.
                let direct = ps
                    .iter()
                    .filter(|q| q.name == p.name && !is_forwarded(q))
                    .find_map(|q| {
                        q.latency_us
                            .iter()
                            .find(|l| l.rate_rps == rate && l.count > 0)
                            .map(|l| (view::display(q), l.p50))
                    });
                if let Some((dl, dv)) = direct {
                    if dv > 0.0 {
                        text.push_str(&format!(", {:+.0}% vs {dl}", (v / dv - 1.0) * 100.0));
                    }
                }
            }
            Some(fig(p, text))
        })
        .collect()
}

fn c8(r: &RunResults, vms: &[&PlatformResult]) -> (Vec<Figure>, Outcome) {
    let kvm: Vec<&PlatformResult> = vms
        .iter()
        .copied()
        .filter(|p| view::accelerator(p).is_some_and(|a| a.eq_ignore_ascii_case("kvm")))
        .collect();
    let slow: Vec<&PlatformResult> = vms
        .iter()
        .copied()
        .filter(|p| view::is_tcg(p) || p.name == "virtualbox")
        .collect();
    let mut figs = Vec::new();
    for p in kvm.iter().chain(&slow) {
        if let Some(s) = p.startup_ms.as_ref().filter(|s| s.summary.n > 0) {
            figs.push(fig(p, format!("startup {}", view::describe(s))));
        }
        if let Some((rate, v)) = p50(p) {
            figs.push(fig(
                p,
                format!("p50 {} at {} req/s", fmt_us(v), view::fmt_rate(rate)),
            ));
        }
    }
    if kvm.is_empty() {
        let probe = vms.iter().find_map(|p| p.details.get("kvm_probe"));
        let why = match (slow.is_empty(), probe) {
            (false, Some(probe)) => {
                format!("no KVM variant in this run: QEMU ran under TCG only ({probe})")
            }
            (false, None) => "no KVM variant in this run: QEMU ran under TCG only".into(),
            (true, _) => format!(
                "no KVM VM and no hosted or emulated VM measured ({})",
                kind_missing(r, Kind::Vm)
            ),
        };
        return (figs, not_measured(why));
    }
    if slow.is_empty() {
        return (
            figs,
            not_measured(format!(
                "no hosted or emulated hypervisor beside KVM ({}; no QEMU TCG variant)",
                why_missing(r, "virtualbox", "VirtualBox")
            )),
        );
    }
    // Compare the best of each side, same metric, same rate.
    let best = |ps: &[&PlatformResult], f: &dyn Fn(&PlatformResult) -> Option<f64>| {
        ps.iter()
            .filter_map(|p| f(p))
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.min(v))))
    };
    let mut comps = Vec::new();
    let st = |p: &PlatformResult| view::median(&p.startup_ms);
    if let (Some(k), Some(s)) = (best(&kvm, &st), best(&slow, &st)) {
        comps.push(("median startup (ms)".to_string(), k, s));
    }
    let mut rates: Vec<f64> = kvm
        .iter()
        .flat_map(|p| p.latency_us.iter().map(|l| l.rate_rps))
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    if let Some(&rate) = rates.iter().find(|&&rate| {
        slow.iter().any(|p| {
            p.latency_us
                .iter()
                .any(|l| l.rate_rps == rate && l.count > 0)
        })
    }) {
        let lat = |p: &PlatformResult| {
            p.latency_us
                .iter()
                .find(|l| l.rate_rps == rate && l.count > 0)
                .map(|l| l.p50)
        };
        if let (Some(k), Some(s)) = (best(&kvm, &lat), best(&slow, &lat)) {
            comps.push((
                format!("p50 latency at {} req/s (µs)", view::fmt_rate(rate)),
                k,
                s,
            ));
        }
    }
    (figs, rule_c8(&comps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(label: &str, v: f64) -> Named {
        (label.into(), v)
    }

    fn h(label: &str, correct: u64, failed: u64, wrong: u64) -> Health {
        Health {
            label: label.into(),
            correct,
            failed,
            wrong,
        }
    }

    fn is_nm(o: &Outcome) -> bool {
        matches!(o.verdict, Verdict::NotMeasured(_))
    }

    #[test]
    fn c1_rules() {
        let ct = [n("docker", 30.0)];
        let ct_cpu = [n("docker", 0.02)];
        assert_eq!(
            rule_c1(&[n("qemu", 700.0)], &ct, &[n("qemu", 0.6)], &ct_cpu).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c1(&[n("qemu", 25.0)], &ct, &[n("qemu", 0.01)], &ct_cpu).verdict,
            Verdict::Contradicted
        );
        // Memory much higher but idle CPU lower: the two halves disagree.
        assert_eq!(
            rule_c1(&[n("qemu", 700.0)], &ct, &[n("qemu", 0.01)], &ct_cpu).verdict,
            Verdict::Mixed
        );
        // One VM heavy, one light.
        assert_eq!(
            rule_c1(&[n("a", 700.0), n("b", 40.0)], &ct, &[], &[]).verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c1(&[], &ct, &[], &[])));
    }

    #[test]
    fn c1_ratio_is_against_the_heaviest_container() {
        let o = rule_c1(&[n("vm", 90.0)], &[n("a", 10.0), n("b", 30.0)], &[], &[]);
        assert_eq!(o.verdict, Verdict::Supported);
        assert!(o.because.contains("3.00x b"), "{}", o.because);
    }

    #[test]
    fn c2_rules() {
        let ct = [n("docker", 30.0)];
        let cpu = [n("docker", 0.2)];
        assert_eq!(
            rule_c2(&[n("vm", 300.0)], &ct, &[n("vm", 0.3)], &cpu).verdict,
            Verdict::Supported
        );
        // TCG-like: memory holds, CPU 20x the container's.
        assert_eq!(
            rule_c2(&[n("vm", 300.0)], &ct, &[n("vm", 4.0)], &cpu).verdict,
            Verdict::Mixed
        );
        assert_eq!(
            rule_c2(&[n("vm", 20.0)], &ct, &[n("vm", 2.0)], &cpu).verdict,
            Verdict::Contradicted
        );
        assert!(is_nm(&rule_c2(&[n("vm", 1.0)], &[], &[], &[])));
    }

    #[test]
    fn c3_rules() {
        assert_eq!(
            rule_c3(&[n("docker", 1.0)], &[n("qemu", 0.0)]).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c3(&[n("kata", 0.0)], &[n("qemu", 1.0)]).verdict,
            Verdict::Contradicted
        );
        assert_eq!(
            rule_c3(&[n("docker", 1.0), n("gvisor", 0.0)], &[n("qemu", 0.0)]).verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c3(&[], &[])));
    }

    #[test]
    fn c4_rules() {
        let ct = [n("docker/bridge", 600.0), n("docker/host", 650.0)];
        let o = rule_c4(&[n("qemu", 9000.0)], &ct);
        assert_eq!(o.verdict, Verdict::Supported);
        assert!(
            o.because.contains("docker/host"),
            "compares to the slowest container: {}",
            o.because
        );
        assert_eq!(
            rule_c4(&[n("qemu", 500.0)], &ct).verdict,
            Verdict::Contradicted
        );
        assert_eq!(rule_c4(&[n("qemu", 2000.0)], &ct).verdict, Verdict::Mixed);
        assert_eq!(
            rule_c4(&[n("fast", 150.0), n("slow", 9000.0)], &ct).verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c4(&[], &ct)));
    }

    #[test]
    fn c5_rules() {
        let img = [n("docker-image", 2.0 * 1024.0 * 1024.0)];
        assert_eq!(
            rule_c5(&[n("disk-vdi", 3.0 * GIB)], &img).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c5(&[n("disk-qcow2", 36.0 * 1024.0 * 1024.0)], &img).verdict,
            Verdict::Mixed
        );
        assert_eq!(
            rule_c5(&[n("disk-qcow2", 3.0 * 1024.0 * 1024.0)], &img).verdict,
            Verdict::Contradicted
        );
        assert!(is_nm(&rule_c5(&[], &img)));
    }

    #[test]
    fn c6_rules() {
        assert_eq!(
            rule_c6(&[("d".into(), 1000.0, 2000.0)]).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c6(&[("d".into(), 1000.0, 1050.0)]).verdict,
            Verdict::Contradicted
        );
        assert_eq!(
            rule_c6(&[("d".into(), 1000.0, 1300.0)]).verdict,
            Verdict::Mixed
        );
        assert_eq!(
            rule_c6(&[]).verdict,
            Verdict::NotMeasured("noisy-neighbour test not run".into())
        );
    }

    #[test]
    fn c7_rules() {
        assert_eq!(rule_c7(&[n("docker", 0.0)]).verdict, Verdict::Supported);
        assert_eq!(rule_c7(&[n("docker", 1.0)]).verdict, Verdict::Contradicted);
        assert_eq!(rule_c7(&[n("docker", 0.5)]).verdict, Verdict::Mixed);
        assert!(is_nm(&rule_c7(&[])));
    }

    #[test]
    fn c8_rules() {
        assert_eq!(
            rule_c8(&[
                ("startup".into(), 300.0, 9000.0),
                ("p50".into(), 400.0, 4800.0)
            ])
            .verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c8(&[("startup".into(), 900.0, 300.0)]).verdict,
            Verdict::Contradicted
        );
        assert_eq!(
            rule_c8(&[
                ("startup".into(), 300.0, 900.0),
                ("p50".into(), 500.0, 400.0)
            ])
            .verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c8(&[])));
    }

    #[test]
    fn c9_rules() {
        assert_eq!(
            rule_c9(&[n("qemu/nat", 0.0)], &[n("qemu/bridge", 1.0)]).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c9(&[n("qemu/nat", 1.0)], &[n("qemu/bridge", 0.0)]).verdict,
            Verdict::Contradicted
        );
        assert_eq!(
            rule_c9(&[n("qemu/nat", 1.0)], &[n("qemu/bridge", 1.0)]).verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c9(&[], &[])));
    }

    #[test]
    fn c10_rules() {
        assert_eq!(
            rule_c10(&[h("docker/bridge", 1000, 0, 0), h("qemu/nat", 990, 5, 0)]).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c10(&[h("qemu/nat", 0, 500, 0)]).verdict,
            Verdict::Contradicted
        );
        assert_eq!(
            rule_c10(&[h("qemu/nat", 800, 200, 0)]).verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c10(&[])));
    }

    #[test]
    fn c11_rules() {
        assert_eq!(
            rule_c11(&[n("overlay", 13.0), n("full", 220.0)]).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c11(&[n("full", 120_000.0)]).verdict,
            Verdict::Contradicted
        );
        assert_eq!(rule_c11(&[n("full", 20_000.0)]).verdict, Verdict::Mixed);
        assert!(is_nm(&rule_c11(&[])));
    }

    #[test]
    fn c12_rules() {
        assert_eq!(rule_c12(Some(3), Some(3)).verdict, Verdict::Supported);
        assert_eq!(rule_c12(Some(3), Some(0)).verdict, Verdict::Mixed);
        assert_eq!(rule_c12(Some(0), Some(0)).verdict, Verdict::Contradicted);
        assert!(is_nm(&rule_c12(None, None)));
    }

    #[test]
    fn c13_rules() {
        assert_eq!(rule_c13(Some(1.0), Some(0.0)).verdict, Verdict::Supported);
        assert_eq!(
            rule_c13(Some(0.0), Some(1.0)).verdict,
            Verdict::Contradicted
        );
        assert_eq!(rule_c13(Some(1.0), Some(1.0)).verdict, Verdict::Mixed);
        assert!(is_nm(&rule_c13(None, Some(0.0))));
    }

    #[test]
    fn c14_rules() {
        let ct = [h("docker", 1000, 0, 0)];
        assert_eq!(
            rule_c14(&[h("qemu", 2488, 12, 0)], &ct).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c14(&[h("qemu", 1000, 0, 3)], &ct).verdict,
            Verdict::Contradicted
        );
        assert_eq!(
            rule_c14(&[h("qemu", 900, 100, 0)], &ct).verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c14(&[], &ct)));
    }

    #[test]
    fn c15_rules() {
        assert_eq!(
            rule_c15(&[h("docker/routed", 1000, 0, 0)]).verdict,
            Verdict::Supported
        );
        assert_eq!(
            rule_c15(&[h("docker/routed", 0, 1000, 0)]).verdict,
            Verdict::Contradicted
        );
        assert_eq!(
            rule_c15(&[h("docker/routed", 900, 100, 0)]).verdict,
            Verdict::Mixed
        );
        assert!(is_nm(&rule_c15(&[])));
    }

    #[test]
    fn headlines_are_short_and_keep_the_deciding_figure() {
        let o = rule_c4(&[n("qemu", 9000.0)], &[n("docker", 600.0)]);
        assert_eq!(o.headline, "VM startup 15.0x a container's");
        let o = rule_c4(&[n("a", 1200.0), n("b", 9000.0)], &[n("docker", 600.0)]);
        assert_eq!(o.headline, "VM startup 2.00–15.0x a container's");
        let o = rule_c14(&[h("qemu", 990, 10, 0)], &[h("docker", 1000, 0, 0)]);
        assert_eq!(o.headline, "2 of 2 answered, 0 wrong, ≤ 1.00% failed");
        assert_eq!(
            rule_c13(None, None).headline,
            "live resize needs both OpenStack and VirtualBox"
        );
    }

    #[test]
    fn details_in_parentheses_are_left_out_of_a_short_reason() {
        assert_eq!(
            without_details("no OpenStack on this host (cloud `x` (devcloud) not found); no VirtualBox on this host (VBoxManage not found)."),
            "no OpenStack on this host; no VirtualBox on this host."
        );
        assert_eq!(without_details("plain"), "plain");
        assert_eq!(without_details("unbalanced ) (still"), "unbalanced )");
    }

    #[test]
    fn verdict_labels_state_the_reason() {
        assert_eq!(
            Verdict::NotMeasured("no VirtualBox on this host".into()).label(),
            "not measured here: no VirtualBox on this host"
        );
        assert_eq!(Verdict::Mixed.label(), "mixed");
    }
}
