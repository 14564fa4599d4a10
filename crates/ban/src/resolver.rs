//! Name resolution, injected so that the decision core stays deterministic
//! and testable. The daemon passes a resolver backed by the system
//! (`getaddrinfo`); tests use [`StaticResolver`].

use std::collections::HashMap;
use std::net::IpAddr;

/// Resolves a host name to its addresses (IPv4 and IPv6). Failure to
/// resolve is an empty list: for ignore checks and unbans, an unresolvable
/// name simply matches nothing.
pub trait Resolver {
    /// The addresses `name` resolves to; empty when it does not resolve.
    fn resolve(&self, name: &str) -> Vec<IpAddr>;
}

/// A resolver that knows no names.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

impl Resolver for NoResolver {
    fn resolve(&self, _name: &str) -> Vec<IpAddr> {
        Vec::new()
    }
}

/// A fixed name table, for tests and for `/etc/hosts`-like setups.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    /// Addresses by host name (lower case, as lookups are case-insensitive).
    pub names: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// Builder: add `name` with the given addresses (unparsable ones are
    /// skipped).
    pub fn with(mut self, name: &str, ips: &[&str]) -> Self {
        self.names.insert(
            name.to_ascii_lowercase(),
            ips.iter().filter_map(|s| s.parse().ok()).collect(),
        );
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, name: &str) -> Vec<IpAddr> {
        self.names
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }
}

/// Any closure works as a resolver.
impl<F: Fn(&str) -> Vec<IpAddr>> Resolver for F {
    fn resolve(&self, name: &str) -> Vec<IpAddr> {
        self(name)
    }
}
