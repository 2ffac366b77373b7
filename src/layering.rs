//! The shape of the house, checked by reading the sources: which top-level folder may
//! use which. A grep rather than a tool (`cargo modules` is not installed everywhere),
//! so it sees `crate::x` paths written in code, not re-exports resolved by the compiler;
//! that is enough to keep the layers from running back up.
//!
//! The layers, bottom up: `error`, `stats`, `results`, `host` hold no knowledge of
//! what uses them; `artifact` (what is built) and `measure` (how it is measured) know
//! nothing of platforms; `platform` uses both; `run` drives platforms; `report` and
//! `demo` read results. `run::context` is its own node: it is what the runner hands a
//! platform, so platforms use it without using the runner.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The node a source file belongs to: its top-level module ("platform" for
/// src/platform/qemu/vm.rs, "stats" for src/stats.rs), "run::context" for that file.
fn node_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    if rel == Path::new("run/context.rs") {
        return Some("run::context".into());
    }
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "layering")).then(|| name.to_string())
}

/// The code of a file without its comments (`//`, `//!`, `///` lines and line ends).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The nodes `text` names as `crate::x` (also inside `use crate::{x, y::z}`).
fn uses(text: &str) -> BTreeSet<String> {
    let text = code(text);
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').map(str::trim).collect()
        } else {
            vec![rest]
        };
        for n in names {
            let path: String = n
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut segs = path.split("::");
            let Some(first) = segs.next().filter(|s| !s.is_empty()) else {
                continue;
            };
            if first == "run" && segs.next() == Some("context") {
                out.insert("run::context".to_string());
            } else {
                out.insert(first.to_string());
            }
        }
    }
    out
}

/// node -> (node it uses -> a file where it does).
fn graph() -> Graph {
    let mut g = Graph::new();
    for f in rust_files(&src()) {
        let Some(node) = node_of(&f) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        for used in uses(&text) {
            if used != node {
                g.entry(node.clone())
                    .or_default()
                    .entry(used)
                    .or_insert_with(|| f.clone());
            }
        }
    }
    g
}

#[test]
fn artifact_and_measure_do_not_use_platform() {
    let g = graph();
    for node in ["artifact", "measure"] {
        for (used, file) in g.get(node).into_iter().flatten() {
            assert!(
                used != "platform" && used != "run" && used != "report",
                "{} uses crate::{used}: {node}/ must not know platforms or the runner",
                file.display()
            );
        }
    }
}

type Graph = BTreeMap<String, BTreeMap<String, PathBuf>>;

/// A cycle of `g` ("a -> b -> a (uses in files...)"), if there is one.
fn find_cycle(g: &Graph) -> Option<String> {
    // Depth-first search; a node met again on the current path closes a cycle.
    fn visit(
        g: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<String> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let cycle = path[i..].join(" -> ");
            let files: Vec<String> = path[i..]
                .iter()
                .zip(path[i + 1..].iter().chain([&node.to_string()]))
                .map(|(a, b)| g[a][b].display().to_string())
                .collect();
            return Some(format!("{cycle} -> {node} (uses in {})", files.join(", ")));
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in g.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|node| visit(g, node, &mut Vec::new(), &mut done))
}

#[test]
fn no_cycle_between_top_level_folders() {
    if let Some(cycle) = find_cycle(&graph()) {
        panic!("cycle: {cycle}");
    }
}

#[test]
fn the_cycle_finder_finds_one() {
    let edge = |a: &str, b: &str| {
        (
            a.to_string(),
            BTreeMap::from([(b.to_string(), PathBuf::from(format!("{a}.rs")))]),
        )
    };
    let g: Graph = BTreeMap::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(
        find_cycle(&g).as_deref(),
        Some("a -> b -> c -> a (uses in a.rs, b.rs, c.rs)")
    );
    let g: Graph = BTreeMap::from([edge("a", "b"), edge("b", "c")]);
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn the_use_reader_sees_groups_and_skips_comments() {
    let text = "use crate::{error::Error, measure::Probe};\n// crate::report\nlet x = crate::run::context::RunContext::new();\nuse crate::run::RunOutcome;";
    let got: Vec<String> = uses(text).into_iter().collect();
    assert_eq!(got, ["error", "measure", "run", "run::context"]);
}

/// The code of `text` that ships: comments dropped, and everything from the first
/// `#[cfg(test)]` block on (a file's inline test module comes last; a `#[cfg(test)]
/// mod x;` declaration is skipped over, its file is judged by its name).
fn shipped_code(text: &str) -> String {
    let mut end = text.len();
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]") {
        let at = from + i;
        let next = text[at..].lines().nth(1).unwrap_or_default().trim_end();
        if next.ends_with('{') {
            end = at;
            break;
        }
        from = at + 1;
    }
    code(&text[..end])
}

#[test]
fn no_platform_is_named_outside_platform() {
    let root = src();
    let names = crate::scenario::PLATFORMS;
    let mut found = Vec::new();
    for f in rust_files(&root) {
        let rel = f.strip_prefix(&root).unwrap();
        let test_only = rel
            .file_name()
            .is_some_and(|n| n == "tests.rs" || n == "fake.rs" || n == "layering.rs");
        // results/legacy.rs: the facts of files written before results recorded them,
        // a frozen record of the past keyed by the names those files carry.
        // results/facts.rs: "native" is also the word for host processes (the kind's
        // noun the report prints, "3.20x against native").
        let legacy = rel == Path::new("results/legacy.rs") || rel == Path::new("results/facts.rs");
        if rel.starts_with("platform") || test_only || legacy {
            continue;
        }
        let mut text = shipped_code(&std::fs::read_to_string(&f).unwrap());
        if rel == Path::new("scenario.rs") {
            // The scenario's platform list is where the names are given.
            let start = text.find("pub const PLATFORMS").expect("the platform list");
            let end = start + text[start..].find("];").expect("its end");
            text.replace_range(start..end, "");
        }
        for (i, line) in text.lines().enumerate() {
            for n in names {
                if line.contains(&format!("\"{n}\"")) {
                    found.push(format!("{}:{}: {}", rel.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "platform names outside src/platform/ (classify with platform::facts instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_readmes_layout_names_every_entry_of_src() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## Layout").expect("a Layout section");
    let layout = &readme[start..];
    let layout = &layout[..layout[3..].find("\n## ").map_or(layout.len(), |i| i + 3)];
    let mut missing = Vec::new();
    for e in std::fs::read_dir(src()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let shown = if e.path().is_dir() {
            format!("{name}/")
        } else {
            name.clone()
        };
        if name != "lib.rs" && !layout.contains(&shown) {
            missing.push(shown);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "README's Layout does not name: {missing:?}"
    );
}

/// The module of a source file: `["report", "claims"]` for src/report/claims/mod.rs,
/// `["results", "keys"]` for src/results/keys.rs, `[]` for lib.rs and main.rs.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut segs: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = segs.pop().unwrap_or_default();
    let stem = last.strip_suffix(".rs").unwrap_or(&last);
    if !matches!(stem, "mod" | "lib" | "main") {
        segs.push(stem.to_string());
    }
    segs
}

/// The paths `code` names from `crate::`, `super::` or `self::`, resolved against
/// module `here`, `use` groups expanded (`use super::{a::{b, c}, d}`).
fn module_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    fn ident(s: &str) -> (&str, &str) {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (&s[..end], &s[end..])
    }
    // One path starting at `s` under `base`; pushes every path it names.
    fn path<'a>(mut s: &'a str, mut base: Vec<String>, out: &mut Vec<Vec<String>>) -> &'a str {
        loop {
            s = s.trim_start();
            if let Some(group) = s.strip_prefix('{') {
                s = group;
                loop {
                    s = path(s, base.clone(), out).trim_start();
                    match s.strip_prefix(',') {
                        Some(rest) => s = rest,
                        None => break,
                    }
                    if let Some(rest) = s.trim_start().strip_prefix('}') {
                        return rest;
                    }
                }
                return s.trim_start().strip_prefix('}').unwrap_or(s);
            }
            let (id, rest) = ident(s);
            if id.is_empty() {
                out.push(base);
                return s;
            }
            match id {
                "super" => {
                    base.pop();
                }
                "self" | "crate" => {}
                _ => base.push(id.to_string()),
            }
            s = rest;
            match s.strip_prefix("::") {
                Some(rest) => s = rest,
                None => {
                    out.push(base);
                    return s;
                }
            }
        }
    }
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base = match start {
                "crate::" => Vec::new(),
                "super::" => here[..here.len().saturating_sub(1)].to_vec(),
                _ => here.to_vec(),
            };
            path(&code[from..], base, &mut out);
        }
    }
    out
}

/// file -> files it imports, from the module paths each names (the file of the longest
/// module prefix of each path). A file naming its own parent module (`super::X` of a
/// `mod.rs`) is left out: a folder's `mod.rs` is its face, declaring what its files share.
fn file_graph() -> Graph {
    let files = rust_files(&src());
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| (module_of(f), f.clone()))
        .collect();
    let mut g = Graph::new();
    for f in &files {
        let here = module_of(f);
        let text = shipped_code(&std::fs::read_to_string(f).unwrap());
        for p in module_paths(&text, &here) {
            let Some(target) = (1..=p.len())
                .rev()
                .find_map(|n| modules.get(&p[..n]).filter(|_| n > 0))
            else {
                continue;
            };
            let target_module = module_of(target);
            let is_parent = here.starts_with(&target_module) && here != target_module;
            if target != f && !is_parent {
                g.entry(f.strip_prefix(src()).unwrap().display().to_string())
                    .or_default()
                    .entry(target.strip_prefix(src()).unwrap().display().to_string())
                    .or_insert_with(|| f.clone());
            }
        }
    }
    g
}

/// No files import each other in a loop (report/ has none since issue 22). The one
/// left is listed, with who is to remove it.
#[test]
fn no_import_circle_between_files() {
    let mut g = file_graph();
    // measure/isolation.rs <-> measure/outside.rs share route and probe helpers: issue
    // 22 item 5 moves them to host/; until then that one edge is set aside.
    if let Some(m) = g.get_mut("measure/outside.rs") {
        m.remove("measure/isolation.rs");
    }
    // The reader sees real imports (a graph without edges would find no circle).
    assert!(g["report/html.rs"].contains_key("report/widgets.rs"));
    if let Some(cycle) = find_cycle(&g) {
        panic!("import circle: {cycle}");
    }
}

#[test]
fn the_module_reader_resolves_groups_and_super() {
    let here = [
        "report".to_string(),
        "claims".to_string(),
        "figures".to_string(),
    ];
    let got = module_paths(
        "use super::{rules::{self, Named}, Outcome};\nlet x = crate::report::faults::trial(1);",
        &here,
    );
    let got: Vec<String> = got.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        got,
        [
            "report::faults::trial",
            "report::claims::rules",
            "report::claims::rules::Named",
            "report::claims::Outcome"
        ]
    );
}

/// report/ and claims/ read platforms' facts from the results: they import nothing of
/// `platform/` or `scenario/` (from the module graph above).
#[test]
fn report_imports_neither_platform_nor_scenario() {
    let g = file_graph();
    let mut found = Vec::new();
    for (file, used) in &g {
        if file.starts_with("report/") {
            for u in used.keys() {
                if u.starts_with("platform") || u.starts_with("scenario") {
                    found.push(format!("{file} -> {u}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "report uses platform/scenario: {found:?}");
}
