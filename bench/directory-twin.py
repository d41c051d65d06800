"""The directory twin of a qcow2 manifest, for the disk benchmarks
(bench/disk.sh, bench/bootc-disk.sh): the boot packages a disk output
implies are asked for by name, the disk-only settings (partition layout,
kernel arguments, [boot]) go and the output becomes a directory, so both
builds install the same package set and their difference is the disk
stage.

usage: directory-twin.py QCOW2.toml OUT.toml "PKG PKG …"
"""
import re
import sys

src, dst, pkgs = sys.argv[1:4]
t = open(src).read()
extra = "".join(f'[[packages]]\nname = "{p}"\n\n' for p in pkgs.split() if not p.startswith("@"))
t = t.replace("[customizations]\n", extra + "[customizations]\n", 1)
t = t[: t.index("[[customizations.disk.partitions]]")]
t = re.sub(r"\[customizations\.kernel\]\n[^\[]*", "", t)
t = re.sub(r'type = "qcow2"\nsize = "[^"]*"', 'type = "directory"', t)
t = re.sub(r"\[boot\]\n[^\[#]*", "", t)
open(dst, "w").write(t)
