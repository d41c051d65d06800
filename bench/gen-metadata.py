#!/usr/bin/env python3
"""Builds a large rpm-md repository (metadata only, no rpm files) from
Debian's bookworm main amd64 Packages index, for resolver benchmarks.

Each Debian package becomes a primary.xml entry with its real relations
(where Debian and rpm semantics differ, the closest rpm spelling: `>> V`
becomes `> V-0`, unversioned Provides get the provider's version):
Depends/Pre-Depends -> requires (alternatives `a | b` -> rich dep
`(a or b)`), Provides -> provides, Conflicts/Breaks -> conflicts,
Recommends -> recommends, Suggests -> suggests; amd64 -> x86_64,
all -> noarch. Versions split epoch:upstream-revision the same way
everywhere ('-' in upstream becomes '_'). Output is deterministic.

usage: gen-metadata.py OUTDIR
"""
import gzip
import hashlib
import os
import re
import subprocess
import sys
from xml.sax.saxutils import escape, quoteattr

OPS = {">=": "GE", "<=": "LE", "=": "EQ", "<<": "LT", ">>": "GT", ">": "GT", "<": "LT"}


def packages_text():
    lists = "/var/lib/apt/lists"
    for f in sorted(os.listdir(lists)):
        if f.endswith("_debian_dists_bookworm_main_binary-amd64_Packages") or \
           re.search(r"_debian_dists_bookworm_main_binary-amd64_Packages\.(lz4|gz|xz)$", f):
            return subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", os.path.join(lists, f)],
                                  check=True, capture_output=True, text=True).stdout
    sys.exit("gen-metadata: no bookworm main amd64 Packages index; run apt-get update")


def evr(v):
    e = "0"
    if ":" in v:
        e, v = v.split(":", 1)
    if "-" in v:
        up, rev = v.rsplit("-", 1)
    else:
        up, rev = v, None
    return e, up.replace("-", "_"), rev


def entry(name, op=None, ver=None):
    a = f"name={quoteattr(name)}"
    if op:
        e, v, r = evr(ver)
        # Debian: 2.36-9 >> 2.36 (a missing revision sorts lowest); rpm
        # would ignore the release, so say "> 2.36-0" instead.
        if op == ">>" and r is None:
            r = "0"
        a += f' flags="{OPS[op]}" epoch="{e}" ver={quoteattr(v)}'
        if r is not None:
            a += f" rel={quoteattr(r)}"
    return f"<rpm:entry {a}/>"


REL = re.compile(r"^\s*([^\s(]+)\s*(?:\(\s*(>=|<=|<<|>>|=|<|>)\s*([^)\s]+)\s*\))?")


def rel_one(s):
    m = REL.match(s)
    if not m:
        return None
    name = m.group(1).split(":")[0]
    return name, m.group(2), m.group(3)


def dep_str(name, op, ver):
    if not op:
        return name
    e, v, r = evr(ver)
    if op == ">>" and r is None:
        r = "0"
    sym = {"GE": ">=", "LE": "<=", "EQ": "=", "LT": "<", "GT": ">"}[OPS[op]]
    full = (f"{e}:" if e != "0" else "") + v + (f"-{r}" if r is not None else "")
    return f"{name} {sym} {full}"


def relations(field):
    out = []
    for part in field.split(","):
        part = part.strip()
        if not part:
            continue
        alts = [rel_one(a) for a in part.split("|")]
        alts = [a for a in alts if a]
        if not alts:
            continue
        if len(alts) == 1:
            out.append(entry(*alts[0]))
        else:
            out.append(entry("(" + " or ".join(dep_str(*a) for a in alts) + ")"))
    return out


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "repodata"), exist_ok=True)
    stanzas = packages_text().split("\n\n")
    pkgs = []
    for st in stanzas:
        f = {}
        key = None
        for line in st.splitlines():
            if line.startswith(" ") and key:
                continue
            if ":" in line:
                key, val = line.split(":", 1)
                f[key] = val.strip()
        if "Package" in f and "Version" in f:
            pkgs.append(f)
    pkgs.sort(key=lambda f: (f["Package"], f["Version"], f.get("Architecture", "")))
    body = []
    for f in pkgs:
        name = f["Package"]
        arch = {"amd64": "x86_64", "all": "noarch"}.get(f.get("Architecture"), None)
        if not arch:
            continue
        e, v, r = evr(f["Version"])
        r = r or "0"
        pkgid = hashlib.sha256(f"{name}-{f['Version']}.{arch}".encode()).hexdigest()
        size = f.get("Size", "0")
        prov = [f'<rpm:entry name={quoteattr(name)} flags="EQ" epoch="{e}" ver={quoteattr(v)} rel={quoteattr(r)}/>']
        # Debian's unversioned Provides never satisfy (or conflict with) a
        # versioned relation; rpm's would match any. Giving them the
        # providing package's version is the closest rpm can say.
        for pv in f.get("Provides", "").split(","):
            one = rel_one(pv) if pv.strip() else None
            if not one:
                continue
            if one[1]:
                prov.append(entry(*one))
            else:
                prov.append(f'<rpm:entry name={quoteattr(one[0])} flags="EQ" epoch="{e}" ver={quoteattr(v)} rel={quoteattr(r)}/>')
        req = relations(f.get("Pre-Depends", "")) + relations(f.get("Depends", ""))
        con = relations(f.get("Conflicts", "")) + relations(f.get("Breaks", ""))
        rec = relations(f.get("Recommends", ""))
        sug = relations(f.get("Suggests", ""))
        fmt = ""
        for tag, lst in (("provides", prov), ("requires", req), ("conflicts", con),
                         ("recommends", rec), ("suggests", sug)):
            if lst:
                fmt += f"<rpm:{tag}>" + "".join(lst) + f"</rpm:{tag}>"
        body.append(
            f'<package type="rpm"><name>{escape(name)}</name><arch>{arch}</arch>'
            f'<version epoch="{e}" ver={quoteattr(v)} rel={quoteattr(r)}/>'
            f'<checksum type="sha256" pkgid="YES">{pkgid}</checksum>'
            f"<summary>{escape(f.get('Description', ''))}</summary><description/><packager/><url/>"
            f'<time file="1700000000" build="1700000000"/><size package="{size}" installed="{size}" archive="{size}"/>'
            f'<location href="Packages/{escape(name)}-{escape(v)}-{escape(r)}.{arch}.rpm"/>'
            f"<format>{fmt}</format></package>\n")
    # What the fixture distro's package sets add to every request, so the
    # same manifest drives image-builder here: a release package and a
    # `core` group (both sides get the same request).
    body.append(
        '<package type="rpm"><name>fixture-release</name><arch>noarch</arch>'
        '<version epoch="0" ver="1" rel="1"/>'
        f'<checksum type="sha256" pkgid="YES">{hashlib.sha256(b"fixture-release").hexdigest()}</checksum>'
        '<summary>release</summary><description/><packager/><url/>'
        '<time file="1700000000" build="1700000000"/><size package="1000" installed="1000" archive="1000"/>'
        '<location href="Packages/fixture-release-1-1.noarch.rpm"/>'
        '<format><rpm:provides><rpm:entry name="fixture-release" flags="EQ" epoch="0" ver="1" rel="1"/>'
        '<rpm:entry name="system-release" flags="EQ" epoch="0" ver="1" rel="1"/></rpm:provides>'
        '<rpm:requires><rpm:entry name="base-files"/></rpm:requires></format></package>\n')
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" '
           f'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{len(body)}">\n' + "".join(body) + "</metadata>\n")
    raw = xml.encode()
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    ck, ock = hashlib.sha256(gz).hexdigest(), hashlib.sha256(raw).hexdigest()
    href = f"repodata/{ck}-primary.xml.gz"
    for old in os.listdir(os.path.join(out, "repodata")):
        os.unlink(os.path.join(out, "repodata", old))
    with open(os.path.join(out, href), "wb") as fh:
        fh.write(gz)
    repomd = f"""<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">{ck}</checksum>
    <open-checksum type="sha256">{ock}</open-checksum>
    <location href="{href}"/>
    <timestamp>1700000000</timestamp>
    <size>{len(gz)}</size>
    <open-size>{len(raw)}</open-size>
  </data>
</repomd>
"""
    comps = ('<?xml version="1.0" encoding="UTF-8"?>\n<comps><group><id>core</id><name>Core</name>'
             '<packagelist><packagereq type="mandatory">base-files</packagereq>'
             '<packagereq type="mandatory">bash</packagereq><packagereq type="default">coreutils</packagereq>'
             '</packagelist></group></comps>\n').encode()
    cck = hashlib.sha256(comps).hexdigest()
    with open(os.path.join(out, f"repodata/{cck}-comps.xml"), "wb") as fh:
        fh.write(comps)
    repomd = repomd.replace("</repomd>", f"""  <data type="group">
    <checksum type="sha256">{cck}</checksum>
    <location href="repodata/{cck}-comps.xml"/>
    <size>{len(comps)}</size>
  </data>
</repomd>""")
    with open(os.path.join(out, "repodata", "repomd.xml"), "w") as fh:
        fh.write(repomd)
    print(f"gen-metadata: {len(body)} packages -> {out}", file=sys.stderr)


main()
