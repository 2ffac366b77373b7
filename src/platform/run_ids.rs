//! Which resources belong to a run. A run's density copies deploy under run ids of
//! their own, `<run id>-c<k>` (run/density.rs), so "everything of run X" is X and
//! every `X-c<k>`: `cleanup --run-id X` after a killed density sweep must find the
//! copies too, and never a run whose id merely starts with X.

/// Is `found` (a run id read off a resource: a label, an environment variable, a
/// name) run `run_id` or one of its density copies? Any virtbench run when `None`.
pub fn of_run(found: &str, run_id: Option<&str>) -> bool {
    let Some(id) = run_id else {
        return true;
    };
    match found.strip_prefix(id) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix("-c")
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// The distinct run ids among `found` that belong to `run_id` (sorted), e.g. the
/// label values a listing returned.
pub fn matching<'a>(found: impl IntoIterator<Item = &'a str>, run_id: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = found
        .into_iter()
        .filter(|f| of_run(f, run_id))
        .map(String::from)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_owns_itself_and_its_density_copies_only() {
        let x = Some("20261207-194400-ab12");
        assert!(of_run("20261207-194400-ab12", x));
        assert!(of_run("20261207-194400-ab12-c1", x));
        assert!(of_run("20261207-194400-ab12-c16", x));
        assert!(!of_run("20261207-194400-ab12-c", x));
        assert!(!of_run("20261207-194400-ab12-cx", x));
        assert!(!of_run("20261207-194400-ab123", x));
        assert!(!of_run("20261207-194400-ab12-other", x));
        assert!(!of_run("20261207-194400-ab1", x));
        assert!(of_run("anything", None));
        assert_eq!(
            matching(["r1-c2", "r2", "r1", "r1-c2", "r1x"], Some("r1")),
            ["r1", "r1-c2"]
        );
    }
}
