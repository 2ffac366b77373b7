//! The reachability matrix (claims C9, C10): per variant, its access path and whether a
//! LAN PC of the run's own (a network namespace behind a veth, see
//! `measure::outside`) reached it at its own address and through its forwarded port.
//! One self-contained table so that the page's layout can move around it.

use super::view::{self, esc};
use crate::results::{keys, PlatformResult, RunResults};

fn cell(p: &PlatformResult, key: &str) -> &'static str {
    match p.extras.get(key).filter(|s| s.summary.n > 0) {
        Some(s) if s.summary.median >= 0.5 => "<td class=\"num\">yes</td>",
        Some(_) => "<td class=\"num\">no</td>",
        None => "<td class=\"num nm\">–</td>",
    }
}

/// The table, or an empty string when no variant was probed from outside.
pub fn matrix_html(r: &RunResults) -> String {
    let rows: Vec<String> = view::measured(r)
        .filter(|p| {
            p.extras.contains_key(keys::REACH_OUTSIDE_DIRECT)
                || p.extras.contains_key(keys::REACH_OUTSIDE_FORWARDED)
        })
        .map(|p| {
            format!(
                "<tr><td>{}</td><td>{}</td>{}{}</tr>\n",
                esc(&view::display(p)),
                esc(p.details.get(keys::ACCESS).map_or("not recorded", |a| a)),
                cell(p, keys::REACH_OUTSIDE_DIRECT),
                cell(p, keys::REACH_OUTSIDE_FORWARDED),
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<h3 id=\"reachability\">Reachability from another PC on the LAN</h3>\n\
         <p>Probed from a network namespace of the run's own, joined to the host by a veth \
         (a /30 link, the host at .1): a correct answer to an expression at the variant's own \
         address (routed through the host when the host itself has a local route to it) and \
         at the host's LAN address on the forwarded port. Ports are published on 127.0.0.1 \
         only, by this project's rule: a forwarded port the LAN cannot reach is that rule, \
         measured. – = the variant has no such address.</p>\n\
         <table><thead><tr><th>Variant</th><th>Access path</th><th>Own address</th>\
         <th>Forwarded port</th></tr></thead><tbody>\n",
    );
    for row in rows {
        out.push_str(&row);
    }
    out.push_str("</tbody></table>\n");
    out
}
