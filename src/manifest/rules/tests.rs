use super::*;

#[test]
fn hostnames_follow_rfc_1123() {
    for ok in ["web-01", "web-01.example.com", "a", &"a".repeat(63)] {
        assert!(hostname(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "a b",
        "-a",
        "a-",
        "a..b",
        "a_b",
        "a.",
        &"a".repeat(64),
        &"ab.".repeat(22),
    ] {
        assert!(hostname(bad).is_err(), "{bad}");
    }
    assert!(host("ntp", "10.0.0.1").is_ok());
    assert!(host("ntp", "::1").is_ok());
    assert!(host("ntp", "pool.ntp.org").is_ok());
    assert!(host("ntp", "a b").is_err());
}

#[test]
fn account_names_and_ids() {
    for ok in ["alice", "Bob", "svc.web", "a_b-c", "host$", "_x"] {
        assert!(account_name("user", ok).is_ok(), "{ok}");
    }
    for bad in ["", "-a", "123", "a b", "a:b", ".", "..", &"a".repeat(33)] {
        assert!(account_name("user", bad).is_err(), "{bad}");
    }
    assert_eq!(account_id("uid", 1000), Ok(1000));
    assert!(account_id("uid", -1).is_err());
    assert!(account_id("uid", 4294967295).is_err());
    assert!(passwd_field("shell", "/bin/sh").is_ok());
    assert!(passwd_field("shell", "/bin:sh").is_err());
}

#[test]
fn units() {
    assert_eq!(unit_name("sshd").unwrap(), "sshd.service");
    assert_eq!(unit_name("getty@tty1").unwrap(), "getty@tty1.service");
    assert_eq!(unit_name("x.timer").unwrap(), "x.timer");
    for bad in ["", "a b", "a/b", ".service", "a\n"] {
        assert!(unit_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ports() {
    assert_eq!(port_spec("22:tcp").unwrap(), (Ports::Range(22, 22), "tcp"));
    assert_eq!(
        port_spec("8000-8080:udp").unwrap(),
        (Ports::Range(8000, 8080), "udp")
    );
    assert_eq!(
        port_spec("imap:tcp").unwrap(),
        (Ports::Named("imap".into()), "tcp")
    );
    for bad in [
        "22",
        "99999:tcp",
        "0:tcp",
        "22:icmp",
        "9-1:tcp",
        "22-x:tcp",
        ":tcp",
        "a b:tcp",
    ] {
        assert!(port_spec(bad).is_err(), "{bad}");
    }
    assert_eq!(firewall_source("10.0.0.0/8").unwrap().0, "address");
    assert_eq!(firewall_source("ipset:x").unwrap().0, "ipset");
    assert_eq!(firewall_source("00:11:22:33:44:55").unwrap().0, "mac");
    assert!(firewall_source("nope").is_err());
}

#[test]
fn urls() {
    assert!(url("baseurl", "https://x/", &REPO_SCHEMES).is_ok());
    let e = url("baseurl", "ftp://x/", &REPO_SCHEMES).unwrap_err();
    assert!(e.message.contains("http://, https:// or file://"), "{e}");
    assert!(url("u", "https://", &WEB_SCHEMES).is_err());
    assert!(url("u", "https://a b", &WEB_SCHEMES).is_err());
}

#[test]
fn paths_and_modes() {
    for ok in ["/etc/motd", "/a/b.c", "/opt/x y/z"] {
        assert!(image_path(ok).is_ok(), "{ok}");
    }
    for bad in [
        "etc/motd", "/", "/a/../b", "/a/./b", "/a//b", "/a/", "/a\n", "/a ",
    ] {
        assert!(image_path(bad).is_err(), "{bad:?}");
    }
    assert_eq!(mode("0644"), Ok(0o644));
    assert_eq!(mode("4755"), Ok(0o4755));
    for bad in ["", "0888", "17777", "rw"] {
        assert!(mode(bad).is_err(), "{bad}");
    }
}

#[test]
fn ssh_keys_and_passwords() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5o user@host";
    assert!(ssh_keys(key).is_ok());
    assert!(ssh_keys(&format!("# mine\nfrom=\"10.0.0.1\" {key}\n")).is_ok());
    for bad in [
        "",
        "# only a comment",
        "hello world",
        "ssh-ed25519",
        "ssh-rsa !!!!",
    ] {
        assert!(ssh_keys(bad).is_err(), "{bad}");
    }
    let h6 = format!("$6$saltsalt${}", "a".repeat(86));
    assert!(password(&h6).is_ok());
    assert!(password(&format!("$6$rounds=5000$salt${}", "b".repeat(86))).is_ok());
    assert!(password("$y$j9T$salt$hashhash").is_ok());
    assert!(password("plain text").is_ok());
    for bad in ["$6$salt$short", "$6$", "$", "$6$a$b$c", "a\nb"] {
        assert!(password(bad).is_err(), "{bad}");
    }
}

#[test]
fn kernel_arguments() {
    assert!(kernel_cmdline("quiet console=ttyS0 a=\"b\"").is_ok());
    assert!(kernel_cmdline("a=\"b c\"").is_err());
    assert!(kernel_cmdline("quiet\nsplash").is_err());
    assert!(kernel_arg("").is_err());
}

#[test]
fn locales_and_zones() {
    for ok in ["en_US.UTF-8", "C.UTF-8", "C", "de_DE@euro", "fil_PH"] {
        assert!(language(ok).is_ok(), "{ok}");
    }
    for bad in ["", "english", "en US", "en_US.", "EN_us"] {
        assert!(language(bad).is_err(), "{bad}");
    }
    assert!(timezone("Europe/Prague").is_ok());
    assert!(timezone("Etc/GMT+1").is_ok());
    assert!(timezone("../etc/passwd").is_err());
    assert!(timezone("Europe/Pr ague").is_err());
    assert!(keymap("de-nodeadkeys").is_ok());
    assert!(keymap("d e").is_err());
}
