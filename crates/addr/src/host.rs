//! The host's own addresses, for `ignoreself`.
//!
//! fail2ban's `ignoreself` covers the addresses of the machine it runs
//! on: its interfaces' addresses plus what `localhost` resolves to. The
//! server, `gaoler explain` and `gaoler lint` all need the same list, so
//! it is read here, the one place with the system call.

use std::net::{IpAddr, Ipv6Addr, ToSocketAddrs};

/// The interface addresses (`getifaddrs`), the resolutions of
/// `localhost`, and the loopback addresses; sorted, without duplicates.
pub fn own_addresses() -> Vec<IpAddr> {
    let mut out = interface_addresses();
    if let Ok(it) = ("localhost", 0u16).to_socket_addrs() {
        out.extend(it.map(|sa| sa.ip()));
    }
    out.push(IpAddr::from([127, 0, 0, 1]));
    out.push(IpAddr::from(Ipv6Addr::LOCALHOST));
    out.sort();
    out.dedup();
    out
}

/// Every address of the host's interfaces.
fn interface_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    // SAFETY: getifaddrs allocates a list that we walk read-only and free
    // with freeifaddrs; every pointer is checked for null before use.
    unsafe {
        let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut p = ifap;
        while !p.is_null() {
            let sa = (*p).ifa_addr;
            if !sa.is_null() {
                match (*sa).sa_family as i32 {
                    libc::AF_INET => {
                        let sin = &*(sa as *const libc::sockaddr_in);
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(sa as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_loopback_once() {
        let a = own_addresses();
        let lo = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(a.iter().filter(|&&x| x == lo).count(), 1);
        assert!(a.contains(&IpAddr::from(Ipv6Addr::LOCALHOST)));
    }
}
