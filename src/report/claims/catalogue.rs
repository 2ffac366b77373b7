//! The catalogue: one entry per claim of the lab report (../shared/CLAIMS.md), with its
//! text, its French original, the rule in words (printed under the verdict), what it
//! reads from the results and the judge that gives its verdict. Adding a claim is adding
//! an entry here and its judge in figures.rs.

use super::context::Run;
use super::figures::{self, Judged};
use super::rules::{self, Band};
use super::{Reference, FELTER, FIRECRACKER};
use crate::report::view::{fmt_ms, fmt_ratio};
use crate::results::keys;

/// The text of a claim, fixed; figures and verdict come from the run.
pub(super) struct Claim {
    pub id: &'static str,
    pub section: &'static str,
    pub claim: &'static str,
    /// The claim in a few words, for the report's first screen.
    pub short: &'static str,
    /// Id of the report section whose figures decide the claim (html.rs's `EVIDENCE`).
    pub evidence: &'static str,
    pub french: &'static str,
    /// The rule and its thresholds, as the judge applies them.
    pub rule: &'static str,
    /// Each threshold the judge applies, with where it comes from and why.
    pub thresholds: &'static [Threshold],
    pub references: &'static [Reference],
    pub note: Option<&'static str>,
    /// `PlatformResult` fields the judge reads.
    pub fields: &'static [&'static str],
    /// `extras` series the judge reads (`results::keys`).
    pub extras: &'static [&'static str],
    /// `details` / `variant` keys the judge reads (`results::keys`).
    pub facts: &'static [&'static str],
    pub judge: fn(&Run) -> Judged,
}

/// Where a threshold comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The claim's own words fix it ("several GB": 1 GiB).
    ClaimWords,
    /// A choice of ours, reading a word of the claim ("much", "small") as a number.
    Choice,
}

impl Basis {
    pub fn label(self) -> &'static str {
        match self {
            Basis::ClaimWords => "the claim's words",
            Basis::Choice => "a choice",
        }
    }
}

/// One threshold of a rule: the figure, the band the judge applies (the same constant,
/// from rules.rs) or the condition in words for rules that count outcomes, and why.
pub(super) struct Threshold {
    pub figure: &'static str,
    pub band: Option<Band>,
    /// How the band's numbers print (a ratio, a time).
    pub fmt: fn(f64) -> String,
    /// The condition in words, when the rule counts outcomes instead of a band.
    pub words: &'static str,
    pub reason: &'static str,
    pub basis: Basis,
}

impl Threshold {
    /// "supported at >= 5x, contradicted at <= 1x" or the words.
    pub fn condition(&self) -> String {
        match self.band {
            Some(b) => b.describe(self.fmt),
            None => self.words.to_string(),
        }
    }
}

fn times(x: f64) -> String {
    fmt_ratio(x)
}

const fn band(
    figure: &'static str,
    band: Band,
    fmt: fn(f64) -> String,
    reason: &'static str,
    basis: Basis,
) -> Threshold {
    Threshold {
        figure,
        band: Some(band),
        fmt,
        words: "",
        reason,
        basis,
    }
}

const fn words(
    figure: &'static str,
    words: &'static str,
    reason: &'static str,
    basis: Basis,
) -> Threshold {
    Threshold {
        figure,
        band: None,
        fmt: times,
        words,
        reason,
        basis,
    }
}

const MUCH_MEMORY: &str = "\"beaucoup plus léger\" (much lighter): we read \"much\" as at least 3x, the gap between a guest OS and a few processes; at or below 1x a VM costs no more, which plainly refutes it. The interval of the ratio (bootstrap over the idle window's samples, 95 %) must clear the threshold.";
const HEALTHY: &str = "\"runs the same\": every answer correct is the claim's own condition; up to 1 % failed requests is allowed because an emulated VM under load drops some (a choice).";

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

pub(super) const CLAIMS: [Claim; 15] = [
    Claim {
        id: "C1",
        section: "1.b virtualization cost",
        claim: "A hypervisor and its guest OS run background work that takes host memory and CPU; containers are much lighter.",
        short: "A VM's background work costs memory and CPU",
        evidence: "memory",
        french: "L’hyperviseur et le système d'exploitation “virtualisé” ont des tâches d'arrière-plan qui utilisent la mémoire et le CPU de l’OS hôte. […] Le déploiement d’un environnement appelé “micro-service”, est donc beaucoup plus léger en termes de mémoires, de performances et de CPU.",
        rule: "Baseline: the same services as native processes. Idle host memory (PSS of every process the deployment owns, on every platform): every VM must use at least 3x native's and at least 3x the heaviest container variant's; idle CPU likewise with 1.5x. Supported when every part holds; contradicted when, in every part, VMs use no more (ratio ≤ 1); mixed otherwise. A figure measured as 0 (below its resolution) is never divided by: that part is left out and the line says so. VMs under emulation (QEMU TCG, from the accelerator each result records) stand for the VM side only when no hardware-assisted VM has the figure; the verdict then reads \"…, emulated VM only\".",
        thresholds: &[
            band("idle memory, VM against native and against the heaviest container", rules::C1_MEMORY, times, MUCH_MEMORY, Basis::Choice),
            band("idle CPU, VM against native and against the heaviest container", rules::C1_CPU, times, "\"tâches d'arrière-plan\" (background tasks) that use the CPU: any clear excess speaks for it; 1.5x leaves room for an idle window's timer noise (a choice).", Basis::Choice),
        ],
        references: &[REF_FC_MEM],
        note: None,
        fields: &["memory_idle_pss_bytes", "cpu_idle_seconds"],
        extras: &[],
        facts: &[keys::ACCELERATOR],
        judge: figures::c1,
    },
    Claim {
        id: "C2",
        section: "1.b usage of CPU, memory, network",
        claim: "A VM uses much more memory, even with no process running; its CPU overhead is small; containers also cut memory and network cost.",
        short: "A VM uses much more memory, little more CPU",
        evidence: "cpu",
        french: "En outre, une VM utilise beaucoup plus de ressources en terme de mémoire car elle consomme de la mémoire même si elle n’exécute pas de processus. L’utilisation du CPU n’est pas aussi importante car la virtualisation n’est pas très exigeante en puissance de calcul.",
        rule: "Supported when every VM's idle memory (PSS of every process the deployment owns, on every platform) is at least 3x the heaviest container's AND its CPU per 1,000 requests at most 2x the container's (\"small CPU overhead\"); contradicted when memory ratio ≤ 1 and CPU ratio ≥ 5; mixed otherwise. VMs under emulation (QEMU TCG, from the accelerator each result records) stand for the VM side only when no hardware-assisted VM has the figure; the verdict then reads \"…, emulated VM only\".",
        thresholds: &[
            band("idle memory, VM against the heaviest container", rules::C2_MEMORY, times, MUCH_MEMORY, Basis::Choice),
            band("CPU per 1,000 requests, VM against the heaviest container", rules::C2_CPU, times, "\"its CPU overhead is small\": we read \"small\" as at most 2x a container's; 5x or more is not small (a choice). Its samples are slices of the load windows (about five per rate); with fewer than 3 there is no interval and the part stays undecided.", Basis::Choice),
        ],
        references: &[REF_FELTER_KVM],
        note: Some("Bytes on the wire per request are not observable from the host in this harness; network cost is judged on latency in C9/C10."),
        fields: &["memory_idle_pss_bytes", "memory_load_pss_bytes", "cpu_seconds_per_1k_requests"],
        extras: &[],
        facts: &[keys::ACCELERATOR],
        judge: figures::c2,
    },
    Claim {
        id: "C3",
        section: "1.b security",
        claim: "A VM isolates better: containers share the host kernel and its resources, so a weakness in one can reach the others or the host.",
        short: "VMs isolate better than containers",
        evidence: "experiments",
        french: "En termes de sécurité, puisque tous les conteneurs partagent des ressources, si l’un d’entre eux est vulnérable, il pourrait rendre les autres vulnérables voir l’OS hôte.",
        rule: "Facts, not a score, each answered from inside the workload to GET /virtbench/probe and compared with the host's: the shared kernel (boot id; for LXC, which gives each container a boot id of its own, the container's namespaces found among the host kernel's processes), host processes visible, CAP_SYS_ADMIN held on the host's kernel, a service bound only to the host's loopback opened (a user-mode NAT VM dials it at slirp's 10.0.2.2, which is the host's loopback). Each fact probed on both sides speaks for the claim when some container is exposed and no VM is, against it when some VM is exposed and no container is, both ways (mixed) when both sides are exposed, not at all when neither is. Supported when every fact that speaks is for it; contradicted when every one is against it; mixed otherwise.",
        thresholds: &[words("the probed isolation facts of each container and VM: shared kernel, host processes visible, CAP_SYS_ADMIN on the host's kernel, host loopback opened", "a fact speaks for the claim when some container is exposed and no VM is; supported when every fact that speaks is for it, contradicted when every one is against it", "\"les conteneurs partagent le noyau\" and \"a weakness can reach the host\": the claim's own words name the kernel and the host; any exposure counts, no score is made up. CAP_SYS_ADMIN stands for \"the host's privileges\" because it opens mounts and namespaces, most of what an escape needs (a choice among the capabilities).", Basis::ClaimWords)],
        references: &[],
        note: None,
        fields: &[],
        extras: &figures::ISOLATION_FACTS,
        facts: &[],
        judge: figures::c3,
    },
    Claim {
        id: "C4",
        section: "1.b performances (response time)",
        claim: "A VM takes much longer to start (full OS boot, init, services); a container starts much faster.",
        short: "A VM starts much more slowly than a container",
        evidence: "startup",
        french: "En termes de performances, VM prend beaucoup plus de temps à se lancer contrairement à un conteneur puisqu' il doit : Démarrer un système d’exploitation complet […] un conteneur est beaucoup plus rapide de par sa légèreté […] C’est donc très rapide à lancer ou modifier.",
        rule: "Supported when every VM platform's median startup is at least 5x the slowest container variant's; contradicted when every VM starts no slower (ratio ≤ 1); mixed otherwise. VMs under emulation (QEMU TCG, from the accelerator each result records) stand for the VM side only when no hardware-assisted VM has the figure; the verdict then reads \"…, emulated VM only\".",
        thresholds: &[band("median startup, VM against the slowest container", rules::C4_STARTUP, times, "\"beaucoup plus long\" (much longer): we read \"much\" as at least 5x (Firecracker reaches guest init in about 125 ms, a container runtime starts a process in tens of ms: an order of magnitude is what \"much\" is about); at or below 1x the VM is no slower. The interval of the ratio over the repetitions must clear the threshold.", Basis::Choice)],
        references: &[REF_FC_BOOT],
        note: None,
        fields: &["startup_ms"],
        extras: &[],
        facts: &[keys::ACCELERATOR],
        judge: figures::c4,
    },
    Claim {
        id: "C5",
        section: "1.b tooling for continuous integration",
        claim: "A VM image is big (several GB) and hard to move between hypervisors; a container image is small and portable.",
        short: "A VM image is GBs, a container image small",
        evidence: "artifacts",
        french: "La taille de la VM est considérable ( plusieurs Go en général) […] Un conteneur est le meilleur support portable. Il est conçu pour être exporté et permettre de s’exécuter dans différentes machines.",
        rule: "Supported when the smallest VM disk image is at least 10x the container image AND at least 1 GiB (\"several GB\"); mixed when only the 10x ratio holds; contradicted when a VM disk is at most 2x the container image.",
        thresholds: &[
            band("smallest VM disk against the container image", rules::C5_SIZE, times, "\"big\" against \"small\": 10x is a choice; at most 2x the two are the same order of size.", Basis::Choice),
            words("smallest VM disk size", "at least 1 GiB for supported", "\"plusieurs Go\" (several GB) in the claim's own words.", Basis::ClaimWords),
        ],
        references: &[],
        note: Some("virtbench's VM appliance is deliberately minimal (kernel + initramfs + one static binary), so its disk is far smaller than a general-purpose guest's."),
        fields: &["artifacts"],
        extras: &[keys::IMAGE_EXPORT_MS, keys::IMAGE_IMPORT_MS],
        facts: &[],
        judge: figures::c5,
    },
    Claim {
        id: "C6",
        section: "1.j administrator's view",
        claim: "Disk activity of one container can slow another (shared host resources).",
        short: "One container's disk activity slows another",
        evidence: "experiments",
        french: "Même si les librairies/bins sont séparées, un impact sur le disque dur d'un conteneur peut affecter un autre conteneur.",
        rule: "Supported when every container variant's p99 latency beside a sibling container that only rewrites and fsyncs a file is at least 1.5x its quiet p99; contradicted when at most 1.1x; mixed otherwise. The p99 beside a sibling that only burns a core, and native processes' figures (the same host without containers), are shown beside it, not judged.",
        thresholds: &[band("p99 beside a disk-only sibling against the quiet p99", rules::C6_DISK, times, "\"can slow\": a 50 % rise of the p99 is a slowdown a user notices (a choice); 1.1x is within what one quiet window differs from the next (a choice). The interval over the repeated windows must clear the threshold, so one noisy window cannot decide.", Basis::Choice)],
        references: &[],
        note: None,
        fields: &[],
        extras: &[
            keys::NOISY_BASELINE_P99_US,
            keys::NOISY_DISK_P99_US,
            keys::NOISY_CPU_P99_US,
        ],
        facts: &[],
        judge: figures::c6,
    },
    Claim {
        id: "C7",
        section: "2 LXC / Docker / rkt",
        claim: "Docker needs a daemon: if the daemon is killed, all containers die with it.",
        short: "Killing the Docker daemon kills its containers",
        evidence: "faults",
        french: "S’exécute en tant que processus et a donc besoin d’un daemon qui gère les services des conteneurs, si ce daemon est tué tous les conteneurs le sont aussi",
        rule: "On the engine as installed (no live-restore: the default): supported when, in every trial, the calculator stopped answering after the engine daemon was killed; contradicted when it kept answering in every trial; mixed otherwise. The live-restore and containerd kills are their own rows, shown beside, never pooled.",
        thresholds: &[words("share of trials in which the calculator kept answering after the engine's daemon was killed, engine as installed (no live-restore)", "supported at 0 % (all containers died), contradicted at 100 %, mixed in between", "\"si le démon est tué, tous les conteneurs meurent\": the claim's own words. Live-restore and containerd kills are shown as their own rows, not pooled.", Basis::ClaimWords)],
        references: &[],
        note: Some("rkt (CoreOS \"Rocket\"), compared in the same section of the lab report, is discontinued: the project was archived in 2020."),
        fields: &[],
        extras: &[keys::DAEMON_KILL_SURVIVED],
        facts: &[],
        judge: figures::c7,
    },
    Claim {
        id: "C8",
        section: "3 hypervisor type 1 vs type 2",
        claim: "A bare-metal (type 1) hypervisor is faster than a hosted (type 2) one.",
        short: "A type 1 hypervisor is faster than a type 2",
        evidence: "startup",
        french: "Meilleure performance car il n’y a pas de couches intermédiaires […] Vitesse : Plus rapide / Plus lent car dépendant de l’OS",
        rule: "Compares hardware-assisted KVM against the hosted hypervisor VirtualBox on median startup and p50 latency (the fastest of each side, at the same rate): supported when KVM is faster by at least 10 % on every comparison; contradicted when it is no faster on any; mixed otherwise. Without VirtualBox figures, QEMU TCG (emulation, from the accelerator each result records) stands in for the hosted side and the verdict reads \"…, emulated VM only\": emulation exaggerates what a type 2 hypervisor costs.",
        thresholds: &[words("median startup and p50 latency, the fastest KVM VM against the fastest hosted one", "KVM counts as faster beyond 10 % (ratio <= 0.9); supported when faster on every comparison, contradicted when no faster on any, mixed otherwise", "\"plus rapide\": a difference under 10 % is within what two runs of the same VM differ by (a choice).", Basis::Choice)],
        references: &[],
        note: Some("KVM turns the Linux kernel into the hypervisor (usually counted as type 1); QEMU TCG is pure emulation, a stand-in that exaggerates what a type 2 hypervisor costs."),
        fields: &["startup_ms", "latency_us"],
        extras: &[],
        facts: &[keys::ACCELERATOR, keys::ACCELERATOR_REASON],
        judge: figures::c8,
    },
    Claim {
        id: "C9",
        section: "4 NAT vs bridge",
        claim: "In NAT mode the guest is reachable from outside only through port forwarding; bridged mode puts it on the network like a PC.",
        short: "NAT hides a guest; bridged mode exposes it",
        evidence: "experiments",
        french: "Un autre poste que l'hôte ne pourra pas accéder à la VM. […] Si plusieurs machines doivent communiquer avec la VM, il faut utiliser le mode pont",
        rule: "Reachability from a LAN PC (a network namespace of the run's own joined to the host by a veth), per variant by the access path it records: supported when no variant reached through a forward (forwarded port, floating IP) answers the LAN PC at its own address and every variant reached at an address of its own does; contradicted when the opposite holds; mixed otherwise. Latency through a forward vs direct is shown beside.",
        thresholds: &[words("what a LAN PC (a network namespace of the run's own) reached, per variant's access path", "supported when no forwarded variant was reached at its own address and every direct one was; contradicted when the reverse; mixed otherwise", "NAT vs bridge: reachability is the claim's own words.", Basis::ClaimWords)],
        references: &[REF_FELTER_NAT],
        note: None,
        fields: &["latency_us"],
        extras: &[keys::REACH_OUTSIDE_DIRECT, keys::REACH_OUTSIDE_FORWARDED],
        facts: &[keys::ACCESS],
        judge: figures::c9,
    },
    Claim {
        id: "C10",
        section: "Obj. 4-5 port forwarding",
        claim: "Port forwarding (host 2222 to guest 22) makes a guest service reachable through the host.",
        short: "Port forwarding makes a guest service reachable",
        evidence: "latency",
        french: "En faisant correspondre le port de la VM à celui de l'hôte, toute personne souhaitant accéder au port 22 de notre VM doit simplement accéder au port 2222 de notre hôte (en envoyant le paquet à l'IP de l'hôte), et l'hôte traduira l'adresse IP.",
        rule: "Decided by the requests sent through each variant's forward (recorded access path: a forwarded port or a floating IP): supported when every forwarded variant answered through it correctly with at most 1% failed requests; contradicted when every one failed more than it answered (none correct, or more than half failed); mixed otherwise. Whether a LAN PC of the run's own reaches the forward at the host's address is shown beside, not judged: this project publishes forwards on 127.0.0.1 only (its network rule), so that figure measures the rule, not the forward. The latency cost against the direct path is shown beside.",
        thresholds: &[words("requests sent through each forwarded variant's forward", "supported with at most 1 % failed on every forwarded variant; contradicted when every one failed more than half", "\"rend le service accessible via l'hôte\": answers through the host's forward are the claim's own words; 1 % (allowing an emulated VM's losses under load) and one half (a forward that drops most of what it gets) are choices.", Basis::ClaimWords)],
        references: &[REF_FELTER_NAT],
        note: None,
        fields: &["latency_us", "max_throughput_rps"],
        extras: &[keys::REACH_OUTSIDE_FORWARDED],
        facts: &[keys::ACCESS],
        judge: figures::c10,
    },
    Claim {
        id: "C11",
        section: "Obj. 4-5 duplication",
        claim: "Cloning a VM is easy.",
        short: "Cloning a VM is easy",
        evidence: "experiments",
        french: "Nous sommes parvenus sans difficulté à cloner la VM.",
        rule: "Supported when the fastest way to clone a VM disk (copy-on-write overlay or full copy) takes at most 5 s (median); contradicted when it takes more than 60 s; mixed in between. Starting one more container is shown beside.",
        thresholds: &[band("the fastest way to clone a VM (median)", rules::C11_CLONE_MS, fmt_ms, "\"facile\" (easy): done in seconds (at most 5 s, a choice); over a minute is not easy (a choice).", Basis::Choice)],
        references: &[],
        note: None,
        fields: &["startup_ms"],
        extras: &[
            keys::VM_CLONE_OVERLAY_MS,
            keys::VM_CLONE_FULL_MS,
            keys::VM_CLONE_OVERLAY_BYTES,
            keys::VM_CLONE_FULL_BYTES,
        ],
        facts: &[],
        judge: figures::c11,
    },
    Claim {
        id: "C12",
        section: "Obj. 5 docker commit / Dockerfile",
        claim: "A container can be saved as a new image by commit or rebuilt from a Dockerfile.",
        short: "docker commit or a Dockerfile makes an image",
        evidence: "experiments",
        french: "nous avons enregistré notre conteneur en créant une nouvelle image avec la commande « docker commit » […] Enfin, nous avons exploré une autre façon de créer un conteneur qui est le : Dockerfile.",
        rule: "Supported when both `docker commit` and a Dockerfile build produced an image; mixed when only one did; contradicted when both were attempted and neither did.",
        thresholds: &[words("docker commit and Dockerfile build, each attempted", "supported when both produced an image; contradicted when both were attempted and neither did", "the claim's own words: an image by commit or by a Dockerfile.", Basis::ClaimWords)],
        references: &[],
        note: None,
        fields: &[],
        extras: &[
            keys::DOCKER_COMMIT_OK,
            keys::DOCKER_BUILD_OK,
            keys::DOCKER_COMMIT_MS,
            keys::DOCKER_BUILD_MS,
            keys::DOCKER_COMMIT_IMAGE_BYTES,
            keys::DOCKER_BUILD_IMAGE_BYTES,
        ],
        facts: &[],
        judge: figures::c12,
    },
    Claim {
        id: "C13",
        section: "Obj. 6-7 snapshot, restore, resize",
        claim: "OpenStack can resize a running VM (the console drops); VirtualBox must stop the VM first.",
        short: "OpenStack resizes a live VM, VirtualBox cannot",
        evidence: "experiments",
        french: "Cela montre la flexibilité d'OpenStack (le redimensionnement avec la machine éteinte ou allumée) en opposition à la VirtualBox (on doit arrêter la VM).",
        rule: "Two halves, each from what the platforms did to a running VM, failures included. Cloud half: for the claim when the cloud resized the running VM without being asked to stop it (a restarted guest, a new boot id, is the claim's own \"the console drops\": shown, not judged), against it when the resize failed. Hosted half: for the claim when the hosted hypervisor refused because the VM was running, against it when it changed the running guest's size (memory or CPUs) without a stop. Supported when both halves are for it, contradicted when both are against it, mixed otherwise; a hosted attempt that neither resized nor asked for a stop decides nothing. VirtualBox cannot be installed here: QEMU, a hypervisor hosted on this Linux as VirtualBox is on its host, stands in for the hosted half (virtio-balloon and CPU hotplug through QMP on a running guest), and the line says so. Snapshot, restore and the service downtime each causes are shown beside.",
        thresholds: &[
            words("a running VM resized, per platform: did the new size take effect, did the platform demand a stop, did the guest keep running (same boot id)", "cloud half for the claim when the cloud resized live, against when it failed; hosted half for when the hypervisor demanded a stop, against when it resized live; supported when both are for, contradicted when both are against", "the claim's own words: resize a running VM vs stop it first.", Basis::ClaimWords),
            words("which hypervisor stands for the hosted side", "VirtualBox where it ran; otherwise QEMU (memory through virtio-balloon, to three quarters of the guest's RAM; one more vCPU through hotplug where the machine has it: q35 yes, microvm no)", "the claim contrasts a cloud with a hosted hypervisor; the lab's is VirtualBox, which cannot run here. QEMU is hosted on Linux the same way, so a live resize by QEMU contradicts \"a hosted hypervisor must stop the VM\" as a general statement, not VirtualBox's own behaviour (a choice; the line names the stand-in). Any one resource changed live counts as resized live (a choice: the claim speaks of resizing, not of which resource).", Basis::Choice),
        ],
        references: &[],
        note: Some("VirtualBox's own side stays not measurable here: VirtualBox cannot be installed on these hosts; its driver records `modifyvm` on the running VM when it can run."),
        fields: &[],
        extras: &[
            keys::SNAPSHOT_MS,
            keys::RESTORE_MS,
            keys::RESTORE_TO_ANSWER_MS,
            keys::RESTORE_DOWNTIME_MS,
            keys::RESIZE_DOWNTIME_MS,
            keys::RESIZE_LIVE_OK,
            keys::RESIZE_OK,
            keys::RESIZE_DEMANDED_STOP,
            keys::RESIZE_GUEST_KEPT_RUNNING,
            keys::RESIZE_MEMORY_OK,
            keys::RESIZE_CPUS_OK,
        ],
        facts: &[],
        judge: figures::c13,
    },
    Claim {
        id: "C14",
        section: "Obj. 8-9 calculator",
        claim: "The calculator runs the same on five VMs and on five containers.",
        short: "Calculator runs the same on VMs and containers",
        evidence: "latency",
        french: "Nous avons créé 5 VMs : SumService, SubService, MulService, DivService et CalculatorService (CS). […] Nous avons ensuite fait la même chose avec Docker et avons automatisé le déploiement de l’application.",
        rule: "Supported when every VM and container variant answered with no wrong answer and at most 1% failed requests; contradicted when one gave a wrong answer or none correct; mixed otherwise (more than 1% failures).",
        thresholds: &[words("answers under load on every VM and container variant", "supported with no wrong answer and at most 1 % failed requests; contradicted with a wrong answer or none correct", HEALTHY, Basis::ClaimWords)],
        references: &[REF_FELTER_EQUAL],
        note: None,
        fields: &["latency_us"],
        extras: &[],
        facts: &[keys::ACCELERATOR],
        judge: figures::c14,
    },
    Claim {
        id: "C15",
        section: "Obj. 10-11 routed topology",
        claim: "Sub-services on 10.5.7.0/24 and the calculator on 10.5.8.0/24, joined by a router, still work end to end.",
        short: "Calculator works across two routed networks",
        evidence: "latency",
        french: "Nous plaçons nos sous-services sur le réseau 10.5.7.0/24, et notre service Calculatrice principale sur son propre réseau 10.5.8.0/24 . Ces deux réseaux sont inter-accessibles par le biais d’un routeur directement connecté aux deux réseaux (RT2).",
        rule: "Supported when every routed two-network variant answered with no wrong answer and at most 1% failed requests; contradicted when one gave a wrong answer or none correct; mixed otherwise. The latency cost of the extra hop is shown beside.",
        thresholds: &[words("answers under load on every routed variant", "supported with no wrong answer and at most 1 % failed requests; contradicted with a wrong answer or none correct", HEALTHY, Basis::ClaimWords)],
        references: &[],
        note: None,
        fields: &["latency_us"],
        extras: &[],
        facts: &[keys::TOPOLOGY],
        judge: figures::c15,
    },
];
