//! The guest side of boot verification: a script and a systemd unit the
//! image carries for one boot, and the parser for what they print.
//!
//! Why a script in the guest rather than probing from the host: the host
//! only sees a serial log (no network, no guest agent under TCG), so the
//! guest states its own facts — Secure Boot, hostname, users, enabled
//! units, systemd's verdict — as one `IMAGE-BUILDER-REPORT {json}` line on
//! the console and powers off. The script is POSIX sh so the same file
//! runs on AlmaLinux (bash, coreutils) and on the fixture distribution
//! (a bare busybox); see the comments in `report.sh`.
//!
//! The serial log is noisy: kernel messages, systemd status lines with
//! ANSI colours, CR LF line ends, and a marker that may also appear in
//! the script's own echo through the journal. [`parse_report`] therefore
//! takes the last marker line whose JSON parses, and never panics.

/// The report script; install as `/usr/libexec/image-builder/report.sh`.
pub const REPORT_SH: &str = include_str!("report.sh");
/// The unit that runs it; install as
/// `/etc/systemd/system/image-builder-report.service` and link it into
/// `multi-user.target.wants`.
pub const REPORT_UNIT: &str = include_str!("image-builder-report.service");
/// Where [`REPORT_UNIT`] expects [`REPORT_SH`] inside the image.
pub const REPORT_SH_PATH: &str = "/usr/libexec/image-builder/report.sh";
/// The unit's file name.
pub const REPORT_UNIT_NAME: &str = "image-builder-report.service";
/// Optional checks, one `name<TAB>shell command` a line.
pub const REPORT_CHECKS_PATH: &str = "/etc/image-builder/report-checks";
/// Starts the report line on the console.
pub const MARKER: &str = "IMAGE-BUILDER-REPORT";

/// The report in a serial log: the JSON object after the last
/// `IMAGE-BUILDER-REPORT` marker that parses, or `None`.
///
/// Tolerates CR, escape sequences and other console output before the
/// marker or after the object on the same line.
pub fn parse_report(serial_log: &str) -> Option<serde_json::Value> {
    serial_log.split(['\n', '\r']).rev().find_map(|line| {
        let at = line.rfind(MARKER)?;
        let rest = line[at + MARKER.len()..].trim_start();
        let start = rest.find('{')?;
        // Parse one value and ignore whatever follows it on the line.
        let mut values =
            serde_json::Deserializer::from_str(&rest[start..]).into_iter::<serde_json::Value>();
        match values.next() {
            Some(Ok(v)) if v.is_object() => Some(v),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_report_among_console_noise() {
        let log = "[    1.0] Linux version 6.1\r\n\
                   \x1b[0;32m  OK  \x1b[0m] Reached target multi-user.target\r\n\
                   \r\nIMAGE-BUILDER-REPORT {\"hostname\":\"h\",\"users\":[\"u\"]}\r\n\
                   [   20.1] reboot: Power down\r\n";
        let r = parse_report(log).expect("report");
        assert_eq!(r["hostname"], "h");
        assert_eq!(r["users"][0], "u");
    }

    #[test]
    fn last_valid_report_wins() {
        let log = "IMAGE-BUILDER-REPORT {\"n\":1}\n\
                   IMAGE-BUILDER-REPORT {\"n\":2}\n\
                   IMAGE-BUILDER-REPORT {\"n\":3, truncated\n";
        assert_eq!(parse_report(log).unwrap()["n"], 2);
    }

    #[test]
    fn tolerates_prefix_and_trailing_noise() {
        let log =
            "report.sh[312]: IMAGE-BUILDER-REPORT {\"a\":\"x\\\"y\"}[  9.9] random: crng init\n";
        assert_eq!(parse_report(log).unwrap()["a"], "x\"y");
    }

    #[test]
    fn no_report() {
        assert!(parse_report("").is_none());
        assert!(parse_report("IMAGE-BUILDER-REPORT\n").is_none());
        assert!(parse_report("IMAGE-BUILDER-REPORT [1,2]\n").is_none());
        assert!(parse_report("IMAGE-BUILDER-REPORT {\"a\":\n1}\n").is_none());
        assert!(parse_report("IMAGE-BUILDER-REPOR {\"a\":1}\n").is_none());
    }

    #[test]
    fn script_and_unit_agree() {
        assert!(REPORT_SH.starts_with("#!/bin/sh\n"));
        assert!(REPORT_SH.contains(&format!("MARKER={MARKER}\n")));
        assert!(REPORT_SH.contains(REPORT_CHECKS_PATH));
        assert!(REPORT_UNIT.contains(&format!("ExecStart=/bin/sh {REPORT_SH_PATH}\n")));
        assert!(REPORT_UNIT.contains("WantedBy=multi-user.target"));
    }
}
