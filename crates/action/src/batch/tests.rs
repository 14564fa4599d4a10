//! Tests of `batch`.

use super::*;

fn cmd(s: &str) -> ShellCommand {
    ShellCommand::plain(s)
}

#[test]
fn stock_forms_are_recognised() {
    for (s, ip) in [
        (
            "nft add element inet f2b-table addr-set-sshd { 192.0.2.1 }",
            "192.0.2.1",
        ),
        (
            "nft add element inet f2b-table addr-set-x \"{ 192.0.2.1 }\"",
            "192.0.2.1",
        ),
        (
            "/usr/sbin/nft delete element inet t addr6-set-x { 2001:db8::1 }",
            "2001:db8::1",
        ),
        ("  nft add element inet t s {192.0.2.9}\n", "192.0.2.9"),
        (
            "nft add element inet f2b-table addr-set-x \\{ 192.0.2.1 \\}",
            "192.0.2.1",
        ),
        // gaoler's own iptables and ipset actions quote the address
        (
            "iptables -w -I f2b-x 1 -s \"192.0.2.1\" -j REJECT --reject-with icmp-port-unreachable",
            "192.0.2.1",
        ),
        ("ipset -exist del f2b-x \"2001:db8::1\"", "2001:db8::1"),
    ] {
        let c = recognise(&cmd(s), ip).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(c.element.to_string(), ip);
    }
}

#[test]
fn anything_else_takes_the_shell_path() {
    for (s, ip) in [
        // another address than the ticket's
        ("nft add element inet t s { 192.0.2.2 }", "192.0.2.1"),
        // two commands
        (
            "nft add element inet t s { 192.0.2.1 }\nlogger banned",
            "192.0.2.1",
        ),
        (
            "nft add element inet t s { 192.0.2.1 }; logger x",
            "192.0.2.1",
        ),
        (
            "nft add element inet t s { 192.0.2.1 } && true",
            "192.0.2.1",
        ),
        // shell expansions
        ("nft add element inet $T s { 192.0.2.1 }", "192.0.2.1"),
        (
            "nft add element inet t s { 192.0.2.1 } >/dev/null",
            "192.0.2.1",
        ),
        ("nft add element inet t\\ s { 192.0.2.1 }", "192.0.2.1"),
        // other tools or statements
        ("iptables -I f2b-x 1 -s 192.0.2.2 -j DROP", "192.0.2.1"),
        ("iptables -w -N f2b-x", "192.0.2.1"),
        (
            "iptables -I f2b-x 1 -s 192.0.2.1 -s 192.0.2.1 -j DROP",
            "192.0.2.1",
        ),
        (
            "iptables -I f2b-x 1 -m comment --comment 'a b' -s 192.0.2.1 -j DROP",
            "192.0.2.1",
        ),
        ("iptables -D f2b-x 3", "192.0.2.1"),
        // (ipset without -exist: a repeat would fail half a restore)
        ("ipset add f2b-x 192.0.2.1", "192.0.2.1"),
        ("ipset -exist add f2b-x 192.0.2.1 timeout $T", "192.0.2.1"),
        ("ipset -exist add f2b-x 192.0.2.1 -timeout 1", "192.0.2.1"),
        ("nft add rule inet t c ip saddr 192.0.2.1 drop", "192.0.2.1"),
        ("nft -c add element inet t s { 192.0.2.1 }", "192.0.2.1"),
        ("mynft add element inet t s { 192.0.2.1 }", "192.0.2.1"),
        (
            "nft add element inet t s { 192.0.2.1, 192.0.2.3 }",
            "192.0.2.1",
        ),
        (
            "nft add element inet t s { 192.0.2.1 timeout 1h }",
            "192.0.2.1",
        ),
        // not an address
        ("nft add element inet t s { alice }", "alice"),
    ] {
        assert_eq!(recognise(&cmd(s), ip), None, "{s}");
    }
    for (s, ip) in [
        (
            "iptables -w -I f2b-sshd 1 -s 192.0.2.1 -j REJECT --reject-with icmp-port-unreachable",
            "192.0.2.1",
        ),
        (
            "/usr/sbin/ip6tables -w -D f2b-x -s 2001:db8::1 -j DROP",
            "2001:db8::1",
        ),
        ("iptables -t raw -A f2b-x -s 192.0.2.1 -j DROP", "192.0.2.1"),
    ] {
        assert!(recognise(&cmd(s), ip).is_some(), "{s}");
    }
    let mut with_args = cmd("nft add element inet t s { 192.0.2.1 }");
    with_args.args.push("x".into());
    assert_eq!(recognise(&with_args, "192.0.2.1"), None);
}

#[test]
fn a_round_is_one_file_grouped_by_set() {
    let c = recognised;
    let changes = [
        c(
            "nft add element inet t addr-set-j { 192.0.2.1 }",
            "192.0.2.1",
        ),
        c(
            "nft add element inet t addr6-set-j { 2001:db8::1 }",
            "2001:db8::1",
        ),
        c(
            "nft add element inet t addr-set-j { 192.0.2.2 }",
            "192.0.2.2",
        ),
    ];
    let refs: Vec<&Change> = changes.iter().collect();
    let b = nft_batch(&refs).expect("one program");
    assert_eq!(b.argv, ["nft", "-f", "-"]);
    assert_eq!(
        b.input,
        "add element inet t addr-set-j { 192.0.2.1, 192.0.2.2 }\n\
         add element inet t addr6-set-j { 2001:db8::1 }\n"
    );
    let other = c("/sbin/nft add element inet t s { 192.0.2.3 }", "192.0.2.3");
    assert_eq!(nft_batch(&[&changes[0], &other]), None);
    assert_eq!(nft_batch(&[]), None);
    assert_eq!(
        groups(&[changes[0].clone(), other, changes[1].clone()]),
        [vec![0, 2], vec![1]]
    );
}

#[test]
fn kernel_timeouts_go_with_additions() {
    let mut add = recognised(
        "nft add element inet f2b-table addr-set-x { 192.0.2.1 }",
        "192.0.2.1",
    );
    assert!(add.takes_timeout());
    let mut other = add.for_element("192.0.2.2".parse().unwrap());
    add.timeout = Some(3600);
    other.timeout = None;
    let b = build(&[&add, &other], &[0, 0], false).unwrap();
    assert_eq!(
        b.input,
        "add element inet f2b-table addr-set-x { 192.0.2.1 timeout 3600s, 192.0.2.2 }\n"
    );
    let del = recognised(
        "nft delete element inet f2b-table addr-set-x { 192.0.2.1 }",
        "192.0.2.1",
    );
    assert!(!del.takes_timeout());

    let mut stock = recognised("ipset -exist add f2b-x 192.0.2.1 timeout 0", "192.0.2.1");
    let mut bare = recognised("ipset -exist add f2b-x 192.0.2.2", "192.0.2.2");
    stock.timeout = Some(60);
    bare.timeout = Some(61);
    assert_eq!(ipset_timeout(3_000_000), 0, "longer than ipset takes");
    let plain = recognised("ipset -exist add f2b-x 192.0.2.3 timeout 0", "192.0.2.3");
    let b = build(&[&stock, &bare, &plain], &[0, 0, 0], false).unwrap();
    assert_eq!(
        b.input,
        "add f2b-x 192.0.2.1 timeout 60 -exist\nadd f2b-x 192.0.2.2 timeout 61 -exist\nadd f2b-x 192.0.2.3 timeout 0 -exist\n"
    );
    let ipt = recognised("iptables -w -I f2b-x 1 -s 192.0.2.1 -j REJECT", "192.0.2.1");
    assert!(!ipt.takes_timeout());
}

#[test]
fn held_entries_say_when_they_lapse() {
    let p = recognised(
        "nft add element inet f2b-table addr-set-x { 192.0.2.1 }",
        "192.0.2.1",
    );
    let out = "table inet f2b-table {\n\tset addr-set-x {\n\t\ttype ipv4_addr\n\t\tflags interval,timeout\n\t\telements = { 192.0.2.1 timeout 1h expires 59m57s488ms, 192.0.2.5,\n\t\t\t     192.0.2.7 timeout 1d expires 1d2h3s }\n\t}\n}\n";
    let got = held(out, &p);
    assert_eq!(
        got,
        [
            ("192.0.2.1".parse().unwrap(), Some(3597)),
            ("192.0.2.5".parse().unwrap(), None),
            ("192.0.2.7".parse().unwrap(), Some(93_603)),
        ]
    );
    let p = recognised("ipset -exist add f2b-x 192.0.2.1 timeout 0", "192.0.2.1");
    let save = "create f2b-x hash:ip family inet hashsize 1024 maxelem 65536 timeout 0\nadd f2b-x 192.0.2.1 timeout 3597\nadd f2b-x 192.0.2.2 timeout 0\n";
    assert_eq!(
        held(save, &p),
        [
            ("192.0.2.1".parse().unwrap(), Some(3597)),
            ("192.0.2.2".parse().unwrap(), None),
        ]
    );
    assert_eq!(nft_duration("2s"), Some(2));
    assert_eq!(nft_duration("1x"), None);
}

#[test]
fn large_rounds_are_split_into_statements() {
    let changes: Vec<Change> = (0..ELEMENTS_PER_STATEMENT + 1)
        .map(|i| {
            let ip = format!("10.0.{}.{}", i / 256, i % 256);
            recognise(&cmd(&format!("nft add element inet t s {{ {ip} }}")), &ip)
                .expect("recognised")
        })
        .collect();
    let refs: Vec<&Change> = changes.iter().collect();
    let b = nft_batch(&refs).expect("batch");
    assert_eq!(b.input.lines().count(), 2);
}

fn recognised(s: &str, ip: &str) -> Change {
    recognise(&cmd(s), ip).expect("recognised")
}

#[test]
fn restore_file_keeps_order_and_tables() {
    let a = recognised("iptables -w -I f2b-j 1 -s 192.0.2.1 -j DROP", "192.0.2.1");
    let b = recognised("iptables -w -I f2b-j 1 -s 192.0.2.2 -j DROP", "192.0.2.2");
    let r = recognised(
        "iptables -w -t raw -A f2b-r -s 192.0.2.3 -j DROP",
        "192.0.2.3",
    );
    let batch = ipt_batch(&[&a, &b, &r], &[0, 2, 0], false).expect("batch");
    assert_eq!(batch.argv, ["iptables-restore", "-w", "--noflush"]);
    assert_eq!(
        batch.input,
        "*filter\n-I f2b-j 1 -s 192.0.2.1 -j DROP\n-D f2b-j -s 192.0.2.2 -j DROP\n\
         -D f2b-j -s 192.0.2.2 -j DROP\n-I f2b-j 1 -s 192.0.2.2 -j DROP\nCOMMIT\n\
         *raw\n-A f2b-r -s 192.0.2.3 -j DROP\nCOMMIT\n"
    );
    let only = ipt_batch(&[&a], &[1], true).expect("batch");
    assert_eq!(
        only.input,
        "*filter\n-D f2b-j -s 192.0.2.1 -j DROP\nCOMMIT\n"
    );
}

#[test]
fn copies_are_counted_in_the_saved_chain() {
    let c = recognised(
        "iptables -w -I f2b-j 1 -s 192.0.2.1 -j REJECT --reject-with icmp-port-unreachable",
        "192.0.2.1",
    );
    let save = "*filter\n:f2b-j - [0:0]\n\
        -A f2b-j -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable\n\
        -A f2b-j -s 192.0.2.10/32 -j REJECT --reject-with icmp-port-unreachable\n\
        -A f2b-j -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable\n\
        -A f2b-other -s 192.0.2.1/32 -j DROP\n\
        -A f2b-j -j RETURN\nCOMMIT\n";
    assert_eq!(ipt_copies(save, &c), Some(2));
    assert_eq!(ipt_copies("*filter\nCOMMIT\n", &c), Some(0));
    // a rule for the address that is not a copy: only the shell knows
    let odd = "-A f2b-j -s 192.0.2.1/32 -j DROP\n";
    assert_eq!(ipt_copies(odd, &c), None);
    let v6 = recognised(
        "ip6tables -w -D f2b-j -s 2001:db8::1 -j DROP",
        "2001:db8::1",
    );
    assert_eq!(
        ipt_copies("-A f2b-j -s 2001:db8::1/128 -j DROP\n", &v6),
        Some(1)
    );
    assert_eq!(
        ipt_save_argv(&v6.program, "filter"),
        ["ip6tables-save", "-t", "filter"]
    );
}

#[test]
fn ipset_rounds_are_one_restore() {
    let c = recognised;
    let a = c("ipset -exist add f2b-j 192.0.2.1 timeout 0", "192.0.2.1");
    let b = c(
        "/sbin/ipset add f2b-j6 2001:db8::1 timeout 600 -exist",
        "2001:db8::1",
    );
    let d = c("ipset -exist del f2b-j 192.0.2.2", "192.0.2.2");
    assert_eq!(ipset_batch(&[&a, &b]), None, "two programs");
    let batch = ipset_batch(&[&a, &d]).expect("batch");
    assert_eq!(batch.argv, ["ipset", "restore"]);
    assert_eq!(
        batch.input,
        "add f2b-j 192.0.2.1 timeout 0 -exist\ndel f2b-j 192.0.2.2 -exist\n"
    );
}

#[test]
fn nft_set_elements() {
    let p = recognised(
        "nft add element inet f2b-table addr-set-j { 192.0.2.1 }",
        "192.0.2.1",
    );
    assert_eq!(
        list_argv(&p),
        ["nft", "list", "set", "inet", "f2b-table", "addr-set-j"]
    );
    let out = "table inet f2b-table {\n\tset addr-set-j {\n\t\ttype ipv4_addr\n\t\tflags interval\n\
               \t\telements = { 192.0.2.7, 198.51.100.1,\n\t\t\t     203.0.113.0/24, 192.0.2.9 timeout 1h expires 59m }\n\t}\n}\n";
    let got: Vec<String> = listed(out, &p).iter().map(|a| a.to_string()).collect();
    assert_eq!(got, ["192.0.2.7", "198.51.100.1", "192.0.2.9"]);
    assert!(listed("table inet f2b-table {\n}\n", &p).is_empty());
}

#[test]
fn iptables_chain_sources() {
    let p = recognised(
        "iptables -w -I f2b-j 1 -s 192.0.2.1 -j REJECT --reject-with icmp-port-unreachable",
        "192.0.2.1",
    );
    assert_eq!(list_argv(&p), ["iptables-save", "-t", "filter"]);
    let save = "*filter\n-A f2b-j -s 192.0.2.7/32 -j REJECT --reject-with icmp-port-unreachable\n\
                -A f2b-j -s 10.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable\n\
                -A f2b-j -s 192.0.2.8/32 -j DROP\n-A f2b-other -s 192.0.2.9/32 -j REJECT --reject-with icmp-port-unreachable\n\
                -A f2b-j -j RETURN\nCOMMIT\n";
    let got: Vec<String> = listed(save, &p).iter().map(|a| a.to_string()).collect();
    assert_eq!(got, ["192.0.2.7"]);
}

#[test]
fn ipset_entries() {
    let p = recognised("ipset -exist add f2b-j 192.0.2.1 timeout 0", "192.0.2.1");
    assert_eq!(list_argv(&p), ["ipset", "save", "f2b-j"]);
    let save = "create f2b-j hash:ip family inet timeout 0\nadd f2b-j 192.0.2.7 timeout 0\nadd f2b-x 192.0.2.8\n";
    let got: Vec<String> = listed(save, &p).iter().map(|a| a.to_string()).collect();
    assert_eq!(got, ["192.0.2.7"]);
}
