"""
The samples of a /_cairn/metrics page (Prometheus text format), for tests.

  parse(text)                 -> {series: value}; a series is the sample's
                                 name with its labels as printed, e.g.
                                 'cairn_requests_total{op="GetObject",status="200"}'
  family(samples, name, label) -> {label value: value} of the samples of
                                 counter family `name` labelled by `label`
                                 alone (series with more labels are left out)

Values are ints when they print as one, else floats. A line that is not a
comment and not "series value" fails the test that reads it: the format
itself is test_ops.py's to check, but a page a helper cannot read must not
pass as an empty one.
"""
import re

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def _number(s):
    try:
        return int(s)
    except ValueError:
        return float(s)


def parse(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "not a metrics sample: %r" % line
        out[m.group(1)] = _number(m.group(2))
    return out


def family(samples, name, label):
    pre = '%s{%s="' % (name, label)
    out = {}
    for series, v in samples.items():
        if series.startswith(pre) and series.endswith('"}') and "," not in series:
            out[series[len(pre):-2]] = v
    return out
