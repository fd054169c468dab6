"""
README's "Supported S3 operations" table lists exactly the operations of the
route table (S3_OPS in src/s3/route.h, read from the header so operations
added there must be added to the table, and removed ones removed).
"""
import os
import re

from conftest import REPO

# router-internal entries, not S3 operations
INTERNAL = {"Unknown", "NotImplemented"}


def route_ops():
    with open(os.path.join(REPO, "src/s3/route.h")) as f:
        src = f.read()
    m = re.search(r"#define S3_OPS\(X\)(.*?)\n\n", src, re.S)
    assert m, "S3_OPS not found in src/s3/route.h"
    ops = re.findall(r'X\(\s*S3_OP_\w+\s*,\s*"([^"]+)"\s*\)', m.group(1))
    assert len(ops) > 20, ops
    assert len(ops) == len(set(ops)), "duplicate names in S3_OPS"
    return set(ops) - INTERNAL


def readme_ops():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Supported S3 operations\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, 'README has no "## Supported S3 operations" section'
    rows = [l for l in m.group(1).splitlines() if l.startswith("|")]
    assert len(rows) > 2, "no table in the section"
    ops = []
    for row in rows[2:]:  # header and separator
        first = row.strip("|").split("|")[0].strip().strip("`")
        ops.append(first)
    dups = {o for o in ops if ops.count(o) > 1}
    assert not dups, "listed twice in README: %s" % sorted(dups)
    return set(ops)


def test_readme_table_matches_route_table():
    route, readme = route_ops(), readme_ops()
    missing = sorted(route - readme)
    extra = sorted(readme - route)
    assert not missing, "in S3_OPS but not in README: %s" % missing
    assert not extra, "in README but not in S3_OPS: %s" % extra
