//! Every listing, all its pages. Glance answers 25 images a page by default, Nova and
//! Neutron cut at their configured limit: a cleanup reading only the first page misses
//! what is on the others. Each API says where the next page starts in its own way
//! (Glance: `next`, Nova and Neutron: a `<collection>_links` entry with `rel: next`);
//! all of them carry a `marker`, which is what we follow, on our own path (the link's
//! host may be an internal name the client cannot reach).

use serde_json::Value;

/// The marker of the next page of a listing answer, if there is one.
pub fn next_marker(answer: &Value, key: &str) -> Option<String> {
    let href = answer.get("next").and_then(Value::as_str).or_else(|| {
        answer
            .get(format!("{key}_links"))?
            .as_array()?
            .iter()
            .find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))?
            .get("href")?
            .as_str()
    })?;
    let query = href.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("marker="))
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

/// `path` asking for the page after `marker` (a marker already there is replaced).
pub fn with_marker(path: &str, marker: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("marker="))
        .collect();
    let m = format!("marker={marker}");
    params.push(&m);
    format!("{base}?{}", params.join("&"))
}

/// Pages a listing may have before we call it a loop (a cloud answering the same
/// marker again): 1,000 pages of 25 is more than any project holds.
pub const MAX_PAGES: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_apis_next_page() {
        // Glance v2: a relative link in `next`.
        let glance = json!({"images": [], "next": "/v2/images?tag=virtbench&marker=img-25"});
        assert_eq!(next_marker(&glance, "images").as_deref(), Some("img-25"));
        // Nova: servers_links with rel next (an absolute URL, maybe an internal host).
        let nova = json!({"servers": [], "servers_links": [
            {"rel": "next", "href": "http://nova-internal:8774/v2.1/servers/detail?limit=1000&marker=srv-9"}]});
        assert_eq!(next_marker(&nova, "servers").as_deref(), Some("srv-9"));
        // Neutron: previous and next links.
        let neutron = json!({"ports": [], "ports_links": [
            {"rel": "previous", "href": "http://n/v2.0/ports?marker=p-0&page_reverse=True"},
            {"rel": "next", "href": "http://n/v2.0/ports?limit=2&marker=p-2"}]});
        assert_eq!(next_marker(&neutron, "ports").as_deref(), Some("p-2"));
        // The last page: no link, or only a previous one.
        assert_eq!(next_marker(&json!({"images": []}), "images"), None);
        let last = json!({"ports": [], "ports_links": [{"rel": "previous", "href": "http://n/v2.0/ports?marker=p-0"}]});
        assert_eq!(next_marker(&last, "ports"), None);
    }

    #[test]
    fn the_marker_goes_on_our_own_path() {
        assert_eq!(
            with_marker("/images?tag=x", "m1"),
            "/images?tag=x&marker=m1"
        );
        assert_eq!(with_marker("/ports", "m1"), "/ports?marker=m1");
        assert_eq!(
            with_marker("/servers/detail?marker=old&name=%5Ev", "new"),
            "/servers/detail?name=%5Ev&marker=new"
        );
    }
}
