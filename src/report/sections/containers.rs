//! The report's "Containers" section: the container runtimes measured here (docker,
//! podman, lxc) side by side, and the lab report's own LXC / Docker / rkt comparison
//! table (section 2, quoted in French with a translation beside), each of its lines
//! given a figure measured in this run or marked "not measurable here" with the reason.
//! rkt is discontinued: its column is quoted, never measured.

use std::fmt::Write as _;

use crate::report::view::{self, esc, fmt_bytes, fmt_ms, fmt_us};
use crate::results::facts::{Isolation, PlatformFacts};
use crate::results::{keys, PlatformResult, RunResults};
use crate::stats::fmt_num;

/// The runtimes of the section: the lab table's columns in its order, then the other
/// container platforms the run knew, in the runner's order (podman is not in the lab's
/// table: it comes last).
fn runtimes(r: &RunResults) -> Vec<(&str, &PlatformFacts)> {
    let mut out: Vec<(&str, &PlatformFacts)> = r
        .known_platforms()
        .into_iter()
        .filter(|(_, f)| f.isolation == Isolation::Container)
        .collect();
    out.sort_by_key(|(_, f)| (f.lab_column.unwrap_or(u8::MAX), f.order));
    out
}

/// The facts of runtime `rt`, as its measured results recorded them.
fn facts_of<'a>(ps: &[&'a PlatformResult], rt: &str) -> Option<&'a PlatformFacts> {
    ps.iter().find(|p| p.name == rt).and_then(|p| p.facts())
}

/// One line of the lab's table: the criterion and each column's text, in French and in
/// English. Quoted from the lab report (seed/compte-rendu-tp-cloud.txt, section 2).
struct LabLine {
    criterion: (&'static str, &'static str),
    lxc: (&'static str, &'static str),
    docker: (&'static str, &'static str),
    rkt: (&'static str, &'static str),
    /// What this run measured for the line, per runtime; Err: why it cannot be.
    measure: fn(&[&PlatformResult], &str) -> Result<String, String>,
}

const LAB_TABLE: [LabLine; 6] = [
    LabLine {
        criterion: ("Application", "Application"),
        lxc: (
            "Possibilité d’avoir plusieurs applications par conteneur",
            "Can hold several applications per container",
        ),
        docker: (
            "Fait pour n’avoir qu’une seule application par conteneur",
            "Made for a single application per container",
        ),
        rkt: (
            "Possibilité d’avoir plusieurs applications par conteneur",
            "Can hold several applications per container",
        ),
        measure: application,
    },
    LabLine {
        criterion: ("Utilité de la communauté", "Community"),
        lxc: ("Communauté vivante et active", "A living, active community"),
        docker: (
            "C’est la communauté la plus utilisée, particulièrement grâce au “docker hub image sharing”",
            "The most used community, especially thanks to Docker Hub image sharing",
        ),
        rkt: ("Communauté vivante et active", "A living, active community"),
        measure: community,
    },
    LabLine {
        criterion: ("Sécurité/Isolation", "Security / isolation"),
        lxc: (
            "S'exécute directement sur la machine, pas réellement d’isolation",
            "Runs directly on the machine, no real isolation",
        ),
        docker: (
            "S’exécute en tant que processus et a donc besoin d’un daemon qui gère les services des conteneurs, si ce daemon est tué tous les conteneurs le sont aussi",
            "Runs as a process and so needs a daemon managing the containers; if that daemon is killed, every container is too",
        ),
        rkt: (
            "Les images sont toutes signées et vérifiées par un centre de sécurité centralisé et géré par Rocket",
            "Every image is signed and verified by a central security service run by Rocket",
        ),
        measure: isolation,
    },
    LabLine {
        criterion: ("Taille et portabilité", "Size and portability"),
        lxc: (
            "Ne gère bien la portabilité que sur des machines Linux",
            "Portable only between Linux machines",
        ),
        docker: ("Meilleure dans le domaine", "The best at it"),
        rkt: (
            "Partage et découverte d’image simple et sans authentification",
            "Simple image sharing and discovery, without authentication",
        ),
        measure: size,
    },
    LabLine {
        criterion: ("Simplicité à manager", "Ease of management"),
        lxc: (
            "Beaucoup d’outils de management déjà développé et possibilité de créer des conteneurs en tant qu’utilisateur",
            "Many management tools already exist, and containers can be created as a plain user",
        ),
        docker: (
            "Les outils de management externe sont bien développés, la communauté juge que c’est la meilleure solution pour de Devops, il faut un accès administrateur (sudo)",
            "External management tools are well developed, the community deems it the best DevOps solution; it needs administrator access (sudo)",
        ),
        rkt: (
            "Outils de management avancés avec possibilité de mettre plusieurs services dans un seul conteneur",
            "Advanced management tools, several services can go in one container",
        ),
        measure: management,
    },
    LabLine {
        criterion: ("Facilité d’utilisation", "Ease of use"),
        lxc: (
            "Facile à prendre en main et ligne de commande simple à utiliser",
            "Easy to pick up, simple command line",
        ),
        docker: (
            "Facile à prendre en main et ligne de commande simple à utiliser, de plus les images avec les applications souhaitées sont souvent déjà disponibles grâce à la communauté",
            "Easy to pick up, simple command line, and images with the wanted applications are often already available from the community",
        ),
        rkt: (
            "Un peu plus difficile à utiliser car la stratégie d’utilisation repose plus sur le “from scratch”",
            "A little harder to use, its approach relies more on building “from scratch”",
        ),
        measure: ease,
    },
];

fn extra(p: &PlatformResult, key: &str) -> Option<f64> {
    p.extras
        .get(key)
        .filter(|s| s.summary.n > 0)
        .map(|s| s.summary.median)
}

/// The first variant of `runtime` that has `f`.
fn first<T>(
    ps: &[&PlatformResult],
    runtime: &str,
    f: impl Fn(&PlatformResult) -> Option<T>,
) -> Option<(String, T)> {
    ps.iter()
        .filter(|p| p.name == runtime)
        .find_map(|p| f(p).map(|v| (p.label.clone(), v)))
}

fn application(ps: &[&PlatformResult], rt: &str) -> Result<String, String> {
    let (label, (pid, seen)) = first(ps, rt, |p| {
        Some((
            extra(p, keys::ISOLATION_WORKLOAD_PID)?,
            extra(p, keys::ISOLATION_PROCESSES_VISIBLE)?,
        ))
    })
    .ok_or("the isolation probe did not run")?;
    Ok(format!(
        "{label}: one service per container, as the lab deployed it; the calculator ran as PID {} and saw {} process{} (nothing stops a second one: this is a choice, not a limit)",
        super::faults::whole(pid),
        super::faults::whole(seen),
        if seen == 1.0 { "" } else { "es" }
    ))
}

fn community(_: &[&PlatformResult], _: &str) -> Result<String, String> {
    Err("a community is not a property of this host (and the machine reaches no registry, Docker Hub included)".into())
}

fn isolation(ps: &[&PlatformResult], rt: &str) -> Result<String, String> {
    let yn = |v: f64| if v >= 0.5 { "yes" } else { "no" };
    let facts = first(ps, rt, |p| {
        Some((
            extra(p, keys::ISOLATION_PID_NAMESPACE_PRIVATE)?,
            extra(p, keys::ISOLATION_NET_NAMESPACE_PRIVATE)?,
            extra(p, keys::ISOLATION_HOST_PROCESSES_VISIBLE),
        ))
    });
    let mut parts = Vec::new();
    if let Some((label, (pid, net, host))) = facts {
        let mut s = format!(
            "{label}: own PID namespace {}, own network namespace {}",
            yn(pid),
            yn(net)
        );
        if let Some(h) = host {
            let _ = write!(s, ", host processes visible {}", yn(h));
        }
        parts.push(s);
    }
    // The daemon half of the line: C7, on the faults section.
    let trial = facts_of(ps, rt).and_then(|f| f.helper_kill.as_deref());
    if let Some(t) = trial {
        if let Some((_, kept)) = first(ps, rt, |p| extra(p, &format!("fault_{t}_survived"))) {
            parts.push(format!(
                "{}: the calculator {} (see Faults)",
                super::faults::fault_trial_name(t),
                if kept >= 0.5 {
                    "kept answering"
                } else {
                    "stopped answering"
                }
            ));
        }
    }
    // Recorded by podman only.
    if let Some((_, n)) = first(ps, rt, |p| extra(p, keys::PODMAN_DAEMON_PROCESSES)) {
        parts.push(format!(
            "podman processes among the calculator's ancestors while it served: {}",
            super::faults::whole(n)
        ));
    }
    if parts.is_empty() {
        return Err("neither the isolation probe nor a kill test ran".into());
    }
    Ok(parts.join("; "))
}

fn size(ps: &[&PlatformResult], rt: &str) -> Result<String, String> {
    // LXC's rootfs is a directory holding the static binary only.
    let artifact = facts_of(ps, rt)
        .and_then(|f| f.workload_artifact.as_deref())
        .ok_or("no artifact of its own")?;
    let (_, bytes) = first(ps, rt, |p| {
        p.artifacts
            .iter()
            .find(|a| a.name == artifact)
            .map(|a| a.bytes)
    })
    .ok_or("no artifact recorded")?;
    let what = if !artifact.ends_with("-image") {
        "root filesystem (a directory holding the static calculator only)"
    } else {
        "image (FROM scratch, the static calculator only)"
    };
    let mut s = format!("{what}: {}", fmt_bytes(bytes as f64));
    if let Some((_, (ms, b))) = first(ps, rt, |p| {
        Some((
            extra(p, keys::IMAGE_EXPORT_MS)?,
            extra(p, keys::IMAGE_EXPORT_BYTES)?,
        ))
    }) {
        let _ = write!(
            s,
            "; docker save to an archive of {} in {}",
            fmt_bytes(b),
            fmt_ms(ms)
        );
    }
    s.push_str("; portability to another OS: not measurable on one Linux host");
    Ok(s)
}

fn management(_: &[&PlatformResult], rt: &str) -> Result<String, String> {
    Err(format!(
        "virtbench runs {rt} as root (rootful); running it as a plain user was not tried, and the quality of management tools is an opinion, not a figure"
    ))
}

fn ease(ps: &[&PlatformResult], rt: &str) -> Result<String, String> {
    // Ease is a matter of taste; the nearest figure is how long a deployment takes.
    let (label, ms) = first(ps, rt, |p| view::median(&p.startup_ms))
        .ok_or("a matter of taste, and no startup was measured")?;
    Err(format!(
        "a matter of taste, not a figure; the nearest one: {label} went from the create call to the first correct answer in {} (median)",
        fmt_ms(ms)
    ))
}

/// One cell of the side-by-side table: the figure of every variant of the runtime.
fn per_variant(
    ps: &[&PlatformResult],
    rt: &str,
    f: impl Fn(&PlatformResult) -> Option<String>,
) -> String {
    let cells: Vec<String> = ps
        .iter()
        .filter(|p| p.name == rt)
        .map(|p| match f(p) {
            Some(v) => format!("{}: {}", esc(&p.label), esc(&v)),
            None => format!("{}: <span class=\"nm\">not measured</span>", esc(&p.label)),
        })
        .collect();
    if cells.is_empty() {
        "<span class=\"nm\">not measured in this run</span>".into()
    } else {
        cells.join("<br>")
    }
}

pub fn section(r: &RunResults) -> String {
    let runtimes = runtimes(r);
    let names: Vec<&str> = runtimes.iter().map(|(n, _)| *n).collect();
    let ps: Vec<&PlatformResult> = view::measured(r)
        .filter(|p| names.contains(&p.name.as_str()))
        .collect();
    let mut out = String::new();
    out.push_str(
        "<section id=\"containers\"><h2>Containers: LXC, Docker and Podman side by side</h2>\n",
    );
    out.push_str("<p>The same static calculator in three container runtimes: LXC (system containers, the binary as PID 1 of a directory root filesystem), Docker (a daemon) and Podman (daemonless, the same OCI image as Docker). rkt, the lab report's third column, is discontinued (the project was archived in 2020): it is quoted, not measured.</p>\n");
    let rt_name = |rt: &str| {
        runtimes
            .iter()
            .find(|(n, _)| *n == rt)
            .map_or("?", |(_, f)| &*f.title)
    };
    let unavailable = |rt: &str| {
        r.platforms
            .iter()
            .find(|p| p.name == rt && !p.available)
            .and_then(|p| p.unavailable_reason.clone())
    };
    crate::report::widgets::fold(
        &mut out,
        "numbers",
        "<strong>Side by side</strong>: startup, memory, CPU, latency and throughput of each runtime",
    );
    out.push_str("<table class=\"dense\"><thead><tr><th>Measured here</th>");
    for &rt in &names {
        let _ = write!(out, "<th>{}</th>", rt_name(rt));
    }
    out.push_str("</tr></thead><tbody>\n");
    let rate = super::latency::rates(r).first().copied();
    type Cell = Box<dyn Fn(&PlatformResult) -> Option<String>>;
    let rows: Vec<(String, Cell)> = vec![
        (
            "Startup (median)".into(),
            Box::new(|p| view::median(&p.startup_ms).map(fmt_ms)),
        ),
        (
            "Idle host memory (median PSS)".into(),
            Box::new(|p| view::median(&p.memory_idle_pss_bytes).map(fmt_bytes)),
        ),
        (
            match rate {
                Some(rate) => format!("p50 latency at {} requests/s", view::fmt_rate(rate)),
                None => "p50 latency".into(),
            },
            Box::new(move |p| {
                p.latency_us
                    .iter()
                    .find(|l| Some(l.rate_rps) == rate && l.count > 0)
                    .map(|l| fmt_us(l.p50))
            }),
        ),
        (
            "Maximum throughput".into(),
            Box::new(|p| {
                p.max_throughput_rps
                    .as_ref()
                    .map(|t| format!("{} requests/s", fmt_num(t.rps)))
            }),
        ),
    ];
    for (name, f) in &rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(name));
        for &rt in &names {
            let cell = match unavailable(rt) {
                Some(why) if !ps.iter().any(|p| p.name == rt) => {
                    format!("<span class=\"nm\">unavailable here: {}</span>", esc(&why))
                }
                _ => per_variant(&ps, rt, f),
            };
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</details>\n");

    lab_table(&mut out, r, &runtimes, &ps);
    out.push_str("</section>\n");
    out
}

/// The lab report's own comparison table, each line quoted and translated, with what
/// this run measured for it per runtime (folded: it is long).
fn lab_table(
    out: &mut String,
    r: &RunResults,
    runtimes: &[(&str, &PlatformFacts)],
    ps: &[&PlatformResult],
) {
    let unavailable = |rt: &str| {
        r.platforms
            .iter()
            .find(|p| p.name == rt && !p.available)
            .and_then(|p| p.unavailable_reason.clone())
    };
    // The lab's table is long (quoted and translated); folded like every detail.
    crate::report::widgets::fold(
        out,
        "numbers",
        "<strong>The lab report's comparison, line by line</strong> (LXC, Docker, rkt; quoted, translated, measured)",
    );
    out.push_str("<p>The lab report's table (section 2, \"Similitudes et différences entre les types de conteneurs existants\"), quoted in French with a translation under each cell; under it, what this run measured for that line, or why it cannot be measured here.</p>\n");
    out.push_str("<table class=\"dense lab\"><thead><tr><th>Criterion</th><th>LXC</th><th>Docker</th><th>Rocket (rkt)</th><th>Podman <span class=\"muted\">(not in the lab's table)</span></th></tr></thead><tbody>\n");
    let quote = |(fr, en): (&str, &str)| {
        format!(
            "<blockquote class=\"fr\" lang=\"fr\">{}</blockquote><div>{}</div>",
            esc(fr),
            esc(en)
        )
    };
    for line in &LAB_TABLE {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\" rowspan=\"2\"><span lang=\"fr\">{}</span><br><span class=\"muted\">{}</span></th><td>{}</td><td>{}</td><td>{}</td><td class=\"nm\">—</td></tr>",
            esc(line.criterion.0),
            esc(line.criterion.1),
            quote(line.lxc),
            quote(line.docker),
            quote(line.rkt)
        );
        let measured = |rt: &str| {
            if !ps.iter().any(|p| p.name == rt) {
                return format!(
                    "<span class=\"nm\">not measured in this run{}</span>",
                    unavailable(rt)
                        .map(|w| format!(": {}", esc(&w)))
                        .unwrap_or_default()
                );
            }
            match (line.measure)(ps, rt) {
                Ok(v) => format!("<strong>Measured:</strong> {}", esc(&v)),
                Err(why) => format!(
                    "<span class=\"nm\">Not measurable here: {}</span>",
                    esc(&why)
                ),
            }
        };
        let column = |i: u8| {
            runtimes
                .iter()
                .find(|(_, f)| f.lab_column == Some(i))
                .map_or_else(String::new, |(rt, _)| measured(rt))
        };
        // The runtimes not in the lab's table share its last column.
        let others = runtimes
            .iter()
            .filter(|(_, f)| f.lab_column.is_none())
            .map(|(rt, _)| measured(rt))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><span class=\"nm\">rkt is discontinued (archived in 2020): not measured</span></td><td>{}</td></tr>",
            column(0),
            column(1),
            others
        );
    }
    out.push_str("</tbody></table>\n</details>\n");
}
