//! DiameterURI parsing (RFC 6733 §4.3.1), python's `parse_diameter_uri`.

use std::collections::BTreeMap;
use std::fmt;

/// Default port of `aaa://` URIs.
pub const DEFAULT_PORT: u16 = 3868;
/// Default port of `aaas://` URIs (RFC 6733 §4.3.1).
pub const DEFAULT_SECURE_PORT: u16 = 5658;

/// A parsed DiameterURI such as `aaa://host.example.com:3868;transport=tcp`
/// (python's `DiameterUri` named tuple).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiameterUri {
    /// `aaa` or `aaas`.
    pub scheme: String,
    /// The host: an FQDN or an IP address.
    pub fqdn: String,
    /// The port: explicit, or 3868 (`aaa`) / 5658 (`aaas`).
    pub port: u16,
    /// The `;key=value` parameters, e.g. `transport` and `protocol`.
    pub params: BTreeMap<String, String>,
    /// Whether the scheme is `aaas`.
    pub is_secure: bool,
}

impl DiameterUri {
    /// The `transport` parameter, `tcp` when absent.
    pub fn transport(&self) -> &str {
        self.params.get("transport").map_or("tcp", String::as_str)
    }
}

impl fmt::Display for DiameterUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.fqdn, self.port)?;
        for (k, v) in &self.params {
            write!(f, ";{k}={v}")?;
        }
        Ok(())
    }
}

/// Why a DiameterURI could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `aaa://` or `aaas://` prefix.
    #[error("uri {0} has no aaa:// or aaas:// scheme")]
    NoScheme(String),
    /// A scheme other than `aaa` or `aaas`.
    #[error("uri {0} has an unsupported scheme")]
    BadScheme(String),
    /// No host after the scheme.
    #[error("uri {0} has no host")]
    NoHost(String),
    /// The port is not a number from 1 to 65535.
    #[error("uri {0} has an invalid port")]
    BadPort(String),
}

/// Parses a DiameterURI (python's `parse_diameter_uri`):
/// `aaa://host.example.com;transport=tcp`,
/// `aaa://host.example.com:5959;transport=tcp;protocol=diameter`,
/// `aaas://[2001:db8::1]:5658;transport=tcp`.
///
/// ```
/// use diameter::node::parse_diameter_uri;
///
/// let uri = parse_diameter_uri("aaa://dra1.example.net:3869;transport=tcp").unwrap();
/// assert_eq!((uri.fqdn.as_str(), uri.port, uri.transport()), ("dra1.example.net", 3869, "tcp"));
/// assert_eq!(parse_diameter_uri("aaas://dra1.example.net").unwrap().port, 5658);
/// ```
pub fn parse_diameter_uri(uri: &str) -> Result<DiameterUri, UriError> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| UriError::NoScheme(uri.to_owned()))?;
    let scheme = scheme.to_ascii_lowercase();
    let is_secure = match scheme.as_str() {
        "aaa" => false,
        "aaas" => true,
        _ => return Err(UriError::BadScheme(uri.to_owned())),
    };
    let (host_port, params_str) = rest.split_once(';').unwrap_or((rest, ""));
    let (fqdn, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| UriError::NoHost(uri.to_owned()))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (host_port, None),
        }
    };
    if fqdn.is_empty() {
        return Err(UriError::NoHost(uri.to_owned()));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| UriError::BadPort(uri.to_owned()))?,
        None if is_secure => DEFAULT_SECURE_PORT,
        None => DEFAULT_PORT,
    };
    let params = params_str
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Ok(DiameterUri {
        scheme,
        fqdn: fqdn.to_owned(),
        port,
        params,
        is_secure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_python() {
        let u = parse_diameter_uri("aaa://host.example.com:5959;transport=tcp;protocol=diameter")
            .unwrap();
        assert_eq!(u.scheme, "aaa");
        assert_eq!(u.fqdn, "host.example.com");
        assert_eq!(u.port, 5959);
        assert_eq!(u.params["transport"], "tcp");
        assert_eq!(u.params["protocol"], "diameter");
        assert!(!u.is_secure);
        let u = parse_diameter_uri("aaas://host.example.com;transport=sctp").unwrap();
        assert_eq!((u.port, u.is_secure, u.transport()), (5658, true, "sctp"));
        let u = parse_diameter_uri("aaa://[::1]:3870").unwrap();
        assert_eq!((u.fqdn.as_str(), u.port), ("::1", 3870));
        let u = parse_diameter_uri("aaa://127.0.0.1").unwrap();
        assert_eq!(
            (u.fqdn.as_str(), u.port, u.transport()),
            ("127.0.0.1", 3868, "tcp")
        );
    }

    #[test]
    fn rejects_bad_uris() {
        assert!(matches!(
            parse_diameter_uri("host:3868"),
            Err(UriError::NoScheme(_))
        ));
        assert!(matches!(
            parse_diameter_uri("http://h"),
            Err(UriError::BadScheme(_))
        ));
        assert!(matches!(
            parse_diameter_uri("aaa://:3868"),
            Err(UriError::NoHost(_))
        ));
        assert!(matches!(
            parse_diameter_uri("aaa://h:99999"),
            Err(UriError::BadPort(_))
        ));
        assert!(matches!(
            parse_diameter_uri("aaa://h:0"),
            Err(UriError::BadPort(_))
        ));
    }
}
