//! Tests of `command`.

use super::*;

#[test]
fn action_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CommandAction>();
    assert_send_sync::<ActionInfo>();
}

#[test]
fn stacking_unbans_are_plain_iptables_deletions() {
    for yes in [
        "iptables -w -D f2b-sshd -s <ip> -j REJECT --reject-with icmp-port-unreachable",
        "ip6tables -w -D f2b-sshd -s <ip> -j REJECT --reject-with icmp6-port-unreachable",
        "/usr/sbin/iptables-legacy --delete INPUT -s <ip> -j DROP",
        "iptables -D f2b-a -s <ip> -j DROP\n  iptables -D f2b-b -s <ip> -j DROP\n",
        "iptables -w -D f2b-sshd -s \"<ip>\" -j DROP",
    ] {
        assert!(is_stacking_unban(yes), "{yes}");
    }
    for no in [
        "",
        "nft delete element inet f2b-table addr-set-x { <ip> }",
        "ipset -exist del f2b-x <ip>",
        "iptables -w -I f2b-x 1 -s <ip> -j DROP",
        "iptables -D f2b-x -s <ip> -j DROP; curl https://example.org/unban",
        "iptables -D f2b-x -s <ip> -j DROP || true",
        "iptables -D f2b-x -s <ip> -j DROP\ncurl -d <ip> https://example.org",
        "iptables -D f2b-x -s $(cat /tmp/x) -j DROP",
        "iptables-save | grep -v <ip> | iptables-restore",
        "<iptables> -D f2b-x -s <ip> -j DROP",
        "iptables -D f2b-x -s <ip> -j DROP > /dev/null",
        "iptables -D f2b-x -s \"<ip> -j ACCEPT\" -j DROP",
        "iptables -D f2b-x -s \"$x<ip>\" -j DROP",
    ] {
        assert!(!is_stacking_unban(no), "{no}");
    }
}

#[test]
fn conditional_key_pattern() {
    assert!(is_conditional_family_key("blocktype?family=inet6"));
    assert!(!is_conditional_family_key("?family=inet6"));
    assert!(!is_conditional_family_key("a-b?family=inet6"));
    assert!(!is_conditional_family_key("blocktype"));
}
