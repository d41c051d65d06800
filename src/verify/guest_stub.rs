//! TEMPORARY stand-in for `src/verify/guest/` (being written by another
//! engineer). It implements the agreed contract only so `verify` compiles
//! and runs: `REPORT_SH`, `REPORT_UNIT`, `MARKER`, `parse_report`. To swap:
//! delete this file and the `#[path = "guest_stub.rs"]` line in
//! `src/verify/mod.rs`.

/// Prefix of the one report line the guest prints on the serial console.
pub const MARKER: &str = "IMAGE-BUILDER-REPORT";

/// Minimal report script (the real one checks much more).
pub const REPORT_SH: &str = r#"#!/bin/sh
# image-builder boot report (temporary stand-in)
sb=null
f=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
[ -e "$f" ] && sb=$(od -An -tu1 -j4 -N1 "$f" | tr -d ' ')
state=$(systemctl is-system-running --wait 2>/dev/null)
printf 'IMAGE-BUILDER-REPORT {"secureboot":%s,"hostname":"%s","kernel":"%s","arch":"%s","system_state":"%s","checks":{}}\n' \
  "$sb" "$(hostname)" "$(uname -r)" "$(uname -m)" "$state" > /dev/console
systemctl poweroff --no-block
"#;

/// Oneshot unit that runs the report script once the system is up.
pub const REPORT_UNIT: &str = "[Unit]
Description=image-builder boot report on the serial console
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/libexec/image-builder/report.sh

[Install]
WantedBy=multi-user.target
";

/// The last well-formed report in a serial log: the JSON object after the
/// marker, on the same line.
pub fn parse_report(serial_log: &str) -> Option<serde_json::Value> {
    serial_log.lines().rev().find_map(|line| {
        let at = line.find(MARKER)?;
        let rest = line[at + MARKER.len()..].trim_matches(|c: char| c.is_whitespace());
        let v: serde_json::Value = serde_json::from_str(rest).ok()?;
        v.is_object().then_some(v)
    })
}
