#!/bin/sh
# image-builder guest report: runs once at boot (image-builder-report.service),
# waits for systemd to settle, prints ONE line
#   IMAGE-BUILDER-REPORT {json}
# to /dev/console, then powers the machine off. The host reads the line
# from the serial log (src/verify/guest/mod.rs, parse_report).
#
# POSIX sh on purpose: it must run under bash + coreutils on AlmaLinux and
# under a bare busybox (no applet links) in the fixture distribution, so
# every tool falls back to `busybox TOOL` when it is not on PATH.

MARKER=IMAGE-BUILDER-REPORT
CHECKS=${IMAGE_BUILDER_REPORT_CHECKS:-/etc/image-builder/report-checks}
WAIT=${IMAGE_BUILDER_REPORT_WAIT:-60}
EFI_GLOBAL=8be4df61-93ca-11d2-aa0d-00e098032b8c

for tool in awk cat grep mount od sort timeout tr uname modprobe; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        eval "$tool() { busybox $tool \"\$@\"; }"
    fi
done
# timeout execs its command: it needs a real program, not a function.
if command -v timeout >/dev/null 2>&1 && [ "$(command -v timeout)" != timeout ]; then
    TIMEOUT=timeout
else
    TIMEOUT="busybox timeout"
fi

# json_str: the argument as a JSON string literal (quotes included).
json_str() {
    printf '%s' "$1" | awk '
        BEGIN {
            for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\u%04x", i)
            esc["\t"] = "\\t"; esc["\r"] = "\\r"; esc["\\"] = "\\\\"; esc["\""] = "\\\""
        }
        {
            if (NR > 1) out = out "\\n"
            n = length($0)
            for (i = 1; i <= n; i++) {
                c = substr($0, i, 1)
                out = out ((c in esc) ? esc[c] : c)
            }
        }
        END { printf "\"%s\"", out }'
}

# json_list: the lines of stdin (empty ones dropped) as a JSON array.
json_list() {
    sep=
    printf '['
    while IFS= read -r item; do
        [ -n "$item" ] || continue
        printf '%s%s' "$sep" "$(json_str "$item")"
        sep=,
    done
    printf ']'
}

# SecureBoot efivar: 4 attribute bytes, then 1 (on) or 0 (off). null when
# the machine did not boot through UEFI or the variable is unreadable.
secureboot() {
    [ -d /sys/firmware/efi ] || { echo null; return; }
    dir=/sys/firmware/efi/efivars
    if ! grep -q " $dir efivarfs " /proc/mounts; then
        modprobe efivarfs >/dev/null 2>&1
        mount -t efivarfs efivarfs "$dir" >/dev/null 2>&1
    fi
    var=$dir/SecureBoot-$EFI_GLOBAL
    [ -r "$var" ] || { echo null; return; }
    set -- $(od -An -tu1 "$var" 2>/dev/null)
    [ $# -ge 5 ] || { echo null; return; }
    shift 4
    case $1 in 1) echo 1 ;; 0) echo 0 ;; *) echo null ;; esac
}

# Regular users: uid 1000 and up, nobody (65534) excluded.
users() {
    awk -F: '$3 >= 1000 && $3 != 65534 { print $1 }' /etc/passwd 2>/dev/null
}

# groups_of: {"user": ["primary", "supplementary", ...]} from the files.
groups_of() {
    sep=
    printf '{'
    for u in $(users); do
        gid=$(awk -F: -v u="$u" '$1 == u { print $4; exit }' /etc/passwd)
        printf '%s%s:' "$sep" "$(json_str "$u")"
        awk -F: -v u="$u" -v gid="$gid" '
            $3 == gid { print $1; next }
            { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) { print $1; next } }' \
            /etc/group 2>/dev/null | json_list
        sep=,
    done
    printf '}'
}

# checks: {"name": true|false} from CHECKS, one "name<TAB>command" a line.
checks() {
    sep=
    printf '{'
    if [ -r "$CHECKS" ]; then
        tab=$(printf '\t')
        while IFS= read -r line; do
            case $line in '' | '#'*) continue ;; esac
            name=${line%%"$tab"*}
            cmd=${line#*"$tab"}
            [ "$name" != "$line" ] || continue
            if $TIMEOUT 30 sh -c "$cmd" </dev/null >/dev/null 2>&1; then r=true; else r=false; fi
            printf '%s%s:%s' "$sep" "$(json_str "$name")" "$r"
            sep=,
        done <"$CHECKS"
    fi
    printf '}'
}

state=$($TIMEOUT "$WAIT" systemctl is-system-running --wait 2>/dev/null)
[ -n "$state" ] || state=$(systemctl is-system-running 2>/dev/null)

report="{\"secureboot\":$(secureboot)"
report="$report,\"cmdline\":$(json_str "$(cat /proc/cmdline 2>/dev/null)")"
report="$report,\"hostname\":$(json_str "$(cat /proc/sys/kernel/hostname 2>/dev/null)")"
report="$report,\"users\":$(users | json_list)"
report="$report,\"groups_of\":$(groups_of)"
report="$report,\"enabled_services\":$(systemctl list-unit-files --state=enabled --no-legend --no-pager 2>/dev/null | awk '{ print $1 }' | LC_ALL=C sort | json_list)"
report="$report,\"root_fs\":$(json_str "$(awk '$2 == "/" { t = $3 } END { print t }' /proc/mounts 2>/dev/null)")"
report="$report,\"system_state\":$(json_str "$state")"
report="$report,\"failed_units\":$(systemctl list-units --state=failed --no-legend --plain --no-pager 2>/dev/null | awk '{ print $1 }' | LC_ALL=C sort | json_list)"
report="$report,\"kernel\":$(json_str "$(uname -r)")"
report="$report,\"arch\":$(json_str "$(uname -m)")"
report="$report,\"checks\":$(checks)}"

# One write, so the line is not split by other console output.
printf '\n%s %s\n' "$MARKER" "$report" >/dev/console 2>/dev/null || printf '%s %s\n' "$MARKER" "$report"

[ "${IMAGE_BUILDER_REPORT_NO_POWEROFF:-}" = 1 ] && exit 0
systemctl poweroff --force 2>/dev/null || poweroff -f 2>/dev/null || busybox poweroff -f
