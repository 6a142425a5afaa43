//! The content discovery workflow: tag lists with their pagination, `_catalog`, and the
//! referrers API (`discovery/referrers.rs`).

mod referrers;

use reqwest::Method;
use serde_json::Value;

use crate::content::short_id;
use crate::expect::{expect_error, expect_status};
use crate::fixtures::{link_next, tags_page, tags_parse, Env};
use crate::http::ReqBody;
use crate::media::OCI_MANIFEST;
use crate::runner::{need, Report, V11};

/// Lexical order as the spec allows it: case-insensitive, or plain byte
/// ("ASCIIbetical") order.
fn is_lexically_sorted(v: &[String]) -> bool {
    v.windows(2).all(|w| w[0] <= w[1]) || v.windows(2).all(|w| w[0].to_lowercase() <= w[1].to_lowercase())
}

pub fn run(env: &Env, rep: &mut Report) {
    let wf = "discovery";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let id = short_id();
    let my_tags: Vec<String> = (1..=5).map(|k| format!("disc-{id}-{k:02}")).collect();

    check!(
        rep,
        wf,
        "setup: push an image manifest under 5 tags, and one into the cross-mount repository",
        {
            let i = env.push_image(ns, Some(&my_tags[0]), 1000)?;
            for t in &my_tags[1..] {
                env.push_manifest(ns, t, OCI_MANIFEST, &i.manifest)?;
            }
            // So that the catalog holds at least two repositories.
            env.push_image(&env.cross, Some(&format!("disc-{id}")), 500)?;
            Ok(())
        }
    );

    // The full list, following Link headers should the registry paginate
    // unasked.
    let mut full: Option<Vec<String>> = None;
    check!(
        rep,
        wf,
        "GET /tags/list returns 200 with {\"name\": <repository>, \"tags\": [...]} holding every pushed tag",
        {
            let (r, mut tags, mut next) = tags_page(reg, &format!("/v2/{ns}/tags/list"))?;
            let v = r.json().unwrap_or(Value::Null);
            ensure!(
                v.get("name").and_then(|n| n.as_str()) == Some(ns),
                "`name` is {:?}, expected {ns:?}",
                v.get("name")
            );
            let mut pages = 0;
            while let Some(n) = next.take() {
                pages += 1;
                ensure!(pages < 200, "more than 200 pages of tags");
                let url = r.url.join(&n).map_err(|e| format!("bad Link {n:?}: {e}"))?;
                let (_, more, nn) = tags_parse(reg.send(Method::GET, url, &[], ReqBody::Empty)?)?;
                tags.extend(more);
                next = nn;
            }
            for t in &my_tags {
                ensure!(tags.contains(t), "tag {t} missing from {tags:?}");
            }
            full = Some(tags);
            Ok(())
        }
    );

    check!(rep, wf, "tags are listed in lexical order", {
        let f = need(&full, "tags list")?;
        ensure!(
            is_lexically_sorted(f),
            "not sorted (CNCF distribution 2.x lists tags in storage order): {:?}",
            f.iter().take(20).collect::<Vec<_>>()
        );
        Ok(())
    });

    let mut link_first: Option<Option<String>> = None;
    check!(rep, wf, "tags/list?n=2 returns the first 2 tags of the list", {
        let f = need(&full, "tags list")?;
        let (_, tags, next) = tags_page(reg, &format!("/v2/{ns}/tags/list?n=2"))?;
        link_first = Some(next.clone());
        let want: Vec<String> = f.iter().take(2).cloned().collect();
        if tags.len() < want.len() && next.is_some() {
            // v1.1: fewer results are allowed when a Link header is given.
            ensure!(want.starts_with(&tags), "got {tags:?}, not a prefix of {want:?}");
            return Ok(());
        }
        ensure!(
            tags.len() <= 2,
            "n ignored: got {} tags for n=2 (CNCF distribution 2.x ignores n on tags/list)",
            tags.len()
        );
        ensure!(tags == want, "got {tags:?}, expected {want:?}");
        Ok(())
    });

    check!(rep, wf, &format!("{V11} a truncated tag page has a Link rel=\"next\" header that leads to the following tags (required with --strict)"), {
        let f = need(&full, "tags list")?;
        let next = need(&link_first, "n=2 page")?;
        let Some(next) = next else {
            ensure!(f.len() > 2 || !env.strict, "fewer than 3 tags, cannot test");
            ensure!(!env.strict, "no Link header on /tags/list?n=2 although more tags exist");
            env.note("no Link header on a truncated tag list (spec: MAY)");
            return Ok(());
        };
        let url = reg.url(&format!("/v2/{ns}/tags/list"))?.join(next).map_err(|e| format!("bad Link target {next:?}: {e}"))?;
        let (_, tags, _) = tags_parse(reg.send(Method::GET, url, &[], ReqBody::Empty)?)?;
        ensure!(!tags.is_empty(), "the Link target returned no tags");
        let idx = f.iter().position(|t| *t == tags[0]).ok_or(format!("{} not in full list", tags[0]))?;
        ensure!((1..=2).contains(&idx), "the next page starts with {:?}, expected the tag after the first page", tags[0]);
        ensure!(f[idx..].starts_with(&tags), "the next page {tags:?} does not continue the list");
        Ok(())
    });

    check!(
        rep,
        wf,
        "tags/list?n=2&last=<tag> returns the 2 tags that follow <tag>",
        {
            need(&full, "tags list")?;
            let (_, tags, next) = tags_page(reg, &format!("/v2/{ns}/tags/list?n=2&last={}", my_tags[1]))?;
            let want = vec![my_tags[2].clone(), my_tags[3].clone()];
            if tags.len() < 2 && next.is_some() {
                ensure!(want.starts_with(&tags), "got {tags:?}, not a prefix of {want:?}");
                return Ok(());
            }
            ensure!(
                !tags.contains(&my_tags[1]),
                "the `last` tag itself is listed: last ignored (CNCF distribution 2.x ignores n/last on tags/list)"
            );
            ensure!(tags == want, "got {tags:?}, expected {want:?}");
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "tags/list?last=<tag> (no n) returns only the tags after <tag>",
        {
            let f = need(&full, "tags list")?;
            let last = &my_tags[2];
            let (_, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list?last={last}"))?;
            let idx = f.iter().position(|t| t == last).unwrap();
            ensure!(
                !tags.contains(last),
                "the `last` tag itself is listed: last ignored (CNCF distribution 2.x ignores last on tags/list)"
            );
            ensure!(!tags.is_empty(), "empty list, expected at least {:?}", f.get(idx + 1));
            ensure!(
                f[idx + 1..].starts_with(&tags),
                "got {:?}, expected a prefix of {:?}",
                tags.iter().take(10).collect::<Vec<_>>(),
                f[idx + 1..].iter().take(10).collect::<Vec<_>>()
            );
            Ok(())
        }
    );

    check!(rep, wf, "tags/list?n=0 returns an empty list and no Link header", {
        need(&full, "tags list")?;
        let (r, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list?n=0"))?;
        ensure!(
            tags.is_empty(),
            "got {} tags, expected none (CNCF distribution 2.x ignores n on tags/list)",
            tags.len()
        );
        ensure!(
            r.header("link").is_none(),
            "Link header present: {:?}",
            r.header("link")
        );
        Ok(())
    });

    check!(
        rep,
        wf,
        "tags/list of a repository that does not exist returns 404 (NAME_UNKNOWN)",
        {
            let r = reg.get(&format!("/v2/{ns}-missing-{}/tags/list", short_id()))?;
            expect_error(&r, &[404], &["NAME_UNKNOWN"])
        }
    );

    // --- _catalog (not part of the spec; rbee-registry implements it) ---------
    let mut catalog: Option<Vec<String>> = None;
    check!(rep, wf, "_catalog (extension, not in the spec) returns 200 {\"repositories\": [...]} in lexical order with the test repositories", {
        let mut repos = Vec::new();
        let mut url = reg.url("/v2/_catalog")?;
        for _ in 0..200 {
            let r = reg.send(Method::GET, url.clone(), &[], ReqBody::Empty)?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or_else(|| format!("body is not JSON: {}", r.describe()))?;
            let page = v
                .get("repositories")
                .and_then(|a| a.as_array())
                .ok_or_else(|| format!("no `repositories` array: {}", r.describe()))?;
            repos.extend(page.iter().filter_map(|x| x.as_str().map(String::from)));
            match r.all_headers("link").iter().find_map(|l| link_next(l)) {
                Some(n) => url = r.url.join(&n).map_err(|e| format!("bad Link {n:?}: {e}"))?,
                None => break,
            }
        }
        ensure!(repos.iter().any(|x| x == ns), "{ns} missing from the catalog");
        ensure!(repos.iter().any(|x| x == &env.cross), "{} missing from the catalog", env.cross);
        ensure!(is_lexically_sorted(&repos), "repositories not in lexical order");
        catalog = Some(repos);
        Ok(())
    });

    check!(
        rep,
        wf,
        "_catalog?n=1 returns exactly one repository and a Link rel=\"next\" header leading to the next one",
        {
            let all = need(&catalog, "catalog")?;
            let r = reg.get("/v2/_catalog?n=1")?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or("body is not JSON")?;
            let page: Vec<String> = v["repositories"]
                .as_array()
                .ok_or("no `repositories` array")?
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect();
            ensure!(
                page.len() == 1 && page[0] == all[0],
                "got {page:?}, expected [{:?}]",
                all[0]
            );
            let next = r
                .all_headers("link")
                .iter()
                .find_map(|l| link_next(l))
                .ok_or("no Link rel=\"next\" header")?;
            let url = r.url.join(&next).map_err(|e| format!("bad Link {next:?}: {e}"))?;
            let r2 = reg.send(Method::GET, url, &[], ReqBody::Empty)?;
            expect_status(&r2, &[200])?;
            let v2 = r2.json().ok_or("Link target body is not JSON")?;
            let first2 = v2["repositories"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|x| x.as_str());
            ensure!(
                first2 == Some(all[1].as_str()),
                "Link target starts with {first2:?}, expected {:?}",
                all[1]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "_catalog?n=1&last=<repository> returns the repository that follows it",
        {
            let all = need(&catalog, "catalog")?;
            let r = reg.get(&format!("/v2/_catalog?n=1&last={}", all[0]))?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or("body is not JSON")?;
            let page: Vec<&str> = v["repositories"]
                .as_array()
                .ok_or("no `repositories` array")?
                .iter()
                .filter_map(|x| x.as_str())
                .collect();
            ensure!(page == vec![all[1].as_str()], "got {page:?}, expected [{:?}]", all[1]);
            Ok(())
        }
    );

    referrers::run(env, rep);
}
