//! The HTTP edge: what every request must satisfy before a handler sees it, and the public
//! base URL a request is answered under.
//!
//! - `check_request`: the request head (request line and headers, counted as
//!   `name: value\r\n` each) is at most `max_header_bytes` (`431` past it), and an HTTP/1.1
//!   request has exactly one valid `Host` (RFC 9112 §3.2: `400` otherwise).
//! - `BaseUrl`: the configured `public_url`; from a trusted proxy (`trusted_proxies`), what its
//!   `Forwarded` or `X-Forwarded-Host`/`X-Forwarded-Proto` headers (or its `Host`) say.
//!   A client's own `Host` never decides where the registry's links point.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::services::PublicUrl;

/// Reverse proxies whose forwarded headers are believed: addresses and CIDRs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `192.168.1.7`, `::1`, `fd00::/8`.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        items
            .into_iter()
            .map(|item| {
                let item = item.trim();
                ipnet::IpNet::from_str(item)
                    .or_else(|_| IpAddr::from_str(item).map(ipnet::IpNet::from))
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where the registry's own URLs point: the configured base, or a trusted proxy's word.
#[derive(Debug, Clone)]
pub struct PublicBase {
    pub url: PublicUrl,
    pub trusted_proxies: TrustedProxies,
}

impl PublicBase {
    /// The base URL for a request from `peer` with `headers`.
    pub fn for_request(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> PublicUrl {
        match peer {
            Some(peer) if self.trusted_proxies.contains(peer) => {
                forwarded_base(headers, self.url.scheme()).unwrap_or_else(|| self.url.clone())
            }
            _ => self.url.clone(),
        }
    }
}

/// The base URL a proxy forwarded: `Forwarded` (its first element, the one nearest the
/// client) or else `X-Forwarded-Host`/`X-Forwarded-Proto` (their first values), with the
/// proxy's `Host` and the configured scheme filling in. `None` when what it says is invalid.
fn forwarded_base(headers: &HeaderMap, default_scheme: &str) -> Option<PublicUrl> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(',').next().unwrap_or("").trim())
            .filter(|value| !value.is_empty())
    };
    let (mut host, mut proto) = (None, None);
    if let Some(element) = text("forwarded") {
        for pair in element.split(';') {
            if let Some((name, value)) = pair.split_once('=') {
                let value = value.trim().trim_matches('"');
                match name.trim().to_ascii_lowercase().as_str() {
                    "host" => host = Some(value),
                    "proto" => proto = Some(value),
                    _ => {}
                }
            }
        }
    }
    let host = host.or_else(|| text("x-forwarded-host")).or_else(|| text("host"))?;
    let proto = proto
        .or_else(|| text("x-forwarded-proto"))
        .unwrap_or(default_scheme)
        .to_ascii_lowercase();
    if !matches!(proto.as_str(), "http" | "https") || !is_host(host) {
        return None;
    }
    PublicUrl::from_parts(&proto, host).ok()
}

/// `uri-host [":" port]`: an authority without user information.
fn is_host(text: &str) -> bool {
    !text.is_empty() && !text.contains('@') && Authority::from_str(text).is_ok()
}

/// The base URL of the registry's own links for this request (see `PublicBase`).
pub struct BaseUrl(pub PublicUrl);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Ok(BaseUrl(state.public_base.for_request(peer, &parts.headers)))
    }
}

/// The size of a request head as `METHOD target VERSION\r\n`, `name: value\r\n` per field
/// and the closing `\r\n`.
pub fn head_size(request: &Request) -> usize {
    let uri = request.uri();
    // Origin form (`/v2/…?…`), or absolute form (`http://host/v2/…`).
    let target = uri.scheme_str().map_or(0, |scheme| scheme.len() + "://".len())
        + uri.authority().map_or(0, |authority| authority.as_str().len())
        + uri
            .path_and_query()
            .map_or(uri.path().len(), |target| target.as_str().len());
    let request_line = request.method().as_str().len() + 1 + target + 1 + "HTTP/1.1".len() + 2;
    let fields: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + fields + 2
}

/// Whether an HTTP/1.1 request has exactly one valid `Host` (HTTP/1.0 may have none).
fn host_is_valid(request: &Request) -> bool {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) => request.version() < Version::HTTP_11,
        (Some(host), None) => host.to_str().is_ok_and(is_host),
        (Some(_), Some(_)) => false,
    }
}

/// Middleware: refuses a request head past the limit (`431`) and a missing, repeated or
/// invalid `Host` (`400`), before anything else looks at the request.
pub async fn check_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if head_size(&request) > state.max_header_bytes {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request head larger than {} bytes\n", state.max_header_bytes),
        )
            .into_response();
    }
    if !host_is_valid(&request) {
        return (
            StatusCode::BAD_REQUEST,
            "an HTTP/1.1 request needs exactly one valid Host header\n",
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8", " 192.168.1.7", "::1"]).unwrap();
        assert!(proxies.contains("10.2.3.4".parse().unwrap()));
        assert!(proxies.contains("192.168.1.7".parse().unwrap()));
        assert!(proxies.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(proxies.contains("::1".parse().unwrap()));
        assert!(!proxies.contains("192.168.1.8".parse().unwrap()));
        assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(["proxy.local"]).is_err());
    }

    #[test]
    fn only_trusted_proxies_move_the_base() {
        let base = PublicBase {
            url: PublicUrl::parse("https://registry.example.com").unwrap(),
            trusted_proxies: TrustedProxies::parse(["10.0.0.1"]).unwrap(),
        };
        let (proxy, client) = (Some("10.0.0.1".parse().unwrap()), Some("10.0.0.2".parse().unwrap()));
        let forged = headers(&[
            ("host", "evil.example"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "http"),
            ("forwarded", "host=evil.example;proto=http"),
        ]);
        assert_eq!(
            base.for_request(client, &forged).as_str(),
            "https://registry.example.com"
        );
        assert_eq!(base.for_request(None, &forged).as_str(), "https://registry.example.com");
        for (pairs, expected) in [
            (
                &[(
                    "forwarded",
                    "for=1.2.3.4;host=\"a.example:8443\";proto=https, host=b.example",
                )][..],
                "https://a.example:8443",
            ),
            (
                &[
                    ("x-forwarded-host", "a.example, b.example"),
                    ("x-forwarded-proto", "http"),
                ][..],
                "http://a.example",
            ),
            (&[("host", "a.example")][..], "https://a.example"),
            // What is not a host or a scheme is ignored: the configured base stays.
            (&[("x-forwarded-host", "a b")][..], "https://registry.example.com"),
            (
                &[("x-forwarded-host", "u@a.example")][..],
                "https://registry.example.com",
            ),
            (
                &[("x-forwarded-host", "a.example/x")][..],
                "https://registry.example.com",
            ),
            (
                &[("x-forwarded-host", "a.example"), ("x-forwarded-proto", "gopher")][..],
                "https://registry.example.com",
            ),
            (&[][..], "https://registry.example.com"),
        ] {
            assert_eq!(base.for_request(proxy, &headers(pairs)).as_str(), expected, "{pairs:?}");
        }
    }

    #[test]
    fn hosts() {
        for good in ["a", "a.example", "a.example:8080", "127.0.0.1:1", "[::1]:8787"] {
            assert!(is_host(good), "{good}");
        }
        for bad in ["", "a b", "u@a", "a/b", "a?b"] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
