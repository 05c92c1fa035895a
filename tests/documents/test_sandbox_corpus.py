"""Hostile templates, grouped the way the Jinja2 SSTI and sandbox-escape literature groups them.

Written for this project from the published techniques (format-string gadgets, names built
at runtime, `|attr` chains, reachable globals, template composition, allocation bombs), not
copied from a list. Each case states its outcome: refused with a clear reason, or rendered
harmlessly. The memory test runs every bomb in one fresh process and bounds its peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from documents import sandbox
from documents.errors import RenderError
from documents.sandbox import BODY_ENV, render_string
from documents.sandbox_ops import DROPPED_FILTERS, FILTERS, STR_METHODS

CONTEXT = {"x": "text", "fmt": "{:>300000000}", "rows": [{"name": "a"}, {"name": "b"}]}
BIG = "{% set big = 'x' * 1000000 %}"

FORMAT_TRICKS = [
    ('{{ ("{:>300000000}"|safe).format(1) | length }}', "format width"),
    ('{% set f = "{:>5000000}" %}{{ f.format(1) }}', "format width"),
    ('{{ "{:>{w}}".format(1, w=300000000) }}', "format width"),
    ('{{ "{a:>300000000}".format_map({"a": 1}) }}', "format width"),
    ("{{ fmt.format(1) }}", "format width"),
    ('{{ ("{:>3000000}"|attr("format"))(1) }}', "format width"),
    ('{{ ("{:>3000000}"|e).format(1) }}', "format width"),
    ("{% set ns = namespace(f=fmt.format) %}{{ ns.f(1) }}", "format width"),
    ("{% set d = dict(f=fmt.format) %}{{ d.f(1) }}", "format width"),
    ('{{ ("{:" ~ ">" ~ "3000000}").format(1) }}', "format width"),
    ('{{ ("{:>" ~ "9" * 7 ~ "}").format(1) }}', "format width"),
    ('{{ "%3000000d"|format(1) }}', "format width"),
    ('{{ "%.3000000f" % 1.0 }}', "format width"),
    ('{{ "%*d" % (3000000, 1) }}', "format width"),
    ('{{ "%(a)3000000s" % {"a": 1} }}', "format width"),
    (BIG + '{{ "{0}{0}{0}{0}".format(big) }}', "str.format would build"),
    (BIG + '{{ "%s%s%s" % (big, big, big) }}', "the % format would build"),
    ('{% set f = "{0." ~ "__class__}" %}{{ f.format(x) }}', "'__class__'"),
    ('{% set f = "{0." ~ "__init__.__globals__}" %}{{ f.format(x) }}', "'__init__'"),
    ('{{ "{0!r}".format(range) }}', "cannot put the function"),
    ('{{ "{}".format(dict) }}', "cannot put the class 'dict'"),
    ('{{ "%s" % namespace }}', "cannot put the class 'Namespace'"),
]

RUNTIME_NAMES = [
    ('{{ x|attr("__cla" ~ "ss__") }}', "'__class__'"),
    ('{{ x|attr("__cla" + "ss__") }}', "'__class__'"),
    ('{{ x|attr("__ssalc__"|reverse) }}', "'__class__'"),
    ('{{ x|attr("_-class-_"|replace("-", "_")) }}', "'__class__'"),
    ('{{ x|attr(["__", "class", "__"]|join) }}', "'__class__'"),
    ("{{ x|attr(dict(__cla=1, ss__=2)|join) }}", "'__class__'"),
    ('{{ x|attr("%sclass%s"|format("__", "__")) }}', "'__class__'"),
    ('{{ x|attr("{}class{}".format("__", "__")) }}', "'__class__'"),
    ('{{ x[("__cla" ~ "ss__")] }}', "'__class__'"),
    ('{{ rows|attr("__" ~ "len__") }}', "'__len__'"),
    ('{{ x|attr("upp" ~ "er")|attr("__se" ~ "lf__") }}', "'__self__'"),
    ('{{ (x|attr("__cla" ~ "ss__"))|attr("__subcla" ~ "sses__") }}', "'__class__'"),
]

ATTR_CHAINS = [
    ('{{ ()|attr("__class__")|attr("__base__")|attr("__subclasses__")() }}', "not allowed"),
    ('{{ x|attr("upper")|attr("__self__") }}', "'__self__' is not allowed"),
    ("{{ namespace.__init__.__globals__ }}", "'__init__' is not allowed"),
    ("{{ range.__call__(3) }}", "'__call__' is not allowed"),
    ('{{ x.encode("utf-8") }}', "'encode' of 'str'"),
    ('{{ 1 .to_bytes(10**9, "big") }}', "'to_bytes' of 'int'"),
    ('{{ x.translate({120: "y" * 1000000}) }}', "'translate' of 'str'"),
    ("{{ rows.append(1) }}", "'append' of 'list'"),
]

GLOBALS = [
    ("{{ request }}", "'request' is undefined"),
    ("{{ config.items() }}", "'config' is undefined"),
    ("{{ self }}", "'self' (the template's internals) is not allowed"),
    ("{{ self._TemplateReference__context }}", "'self'"),
    ("{{ lipsum(5) }}", "'lipsum' is undefined"),
    ("{{ cycler(1, 2).next() }}", "'cycler' is undefined"),
    ("{{ joiner() }}", "'joiner' is undefined"),
    ("{{ namespace }}", "cannot put the class 'Namespace'"),
    ("{{ namespace() }}", "cannot put a Namespace object"),
    ("{{ range }}", "cannot put the function 'safe_range'"),
    ("{{ dict }}", "cannot put the class 'dict'"),
    ("{% for i in [1] %}{{ loop }}{% endfor %}", "cannot put a LoopContext object"),
    ("{% macro m() %}{% endmacro %}{{ m }}", "cannot put a Macro object"),
    ('{{ "a" ~ namespace() }}', "cannot put a Namespace object"),
    ("{{ [range]|join }}", "cannot put the function"),
    ("{{ namespace()|string }}", "cannot put a Namespace object"),
    ("{{ namespace()|upper }}", "cannot put a Namespace object"),
    ('{{ dict|replace("a", "b") }}', "cannot put the class 'dict'"),
    ("{{ [1]|pprint }}", "No filter named 'pprint'"),
]

COMPOSITION = [
    '{% extends "base.yaml" %}',
    '{% include "other.yaml" %}',
    '{% import "macros.yaml" as m %}',
    '{% from "macros.yaml" import item %}',
]

BOMBS = [
    ('{{ "x" * 2000000000 }}', "repetition"),
    ("{{ [1] * 100000000 }}", "repetition"),
    ("{{ 9 ** (9 ** 9) }}", "the power"),
    ("{{ (2 ** 10000) * (2 ** 10000) }}", "the power"),
    (
        "{% set ns = namespace(n=2**1000) %}{% for i in range(30) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        "multiplication",
    ),
    (
        '{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
        "{% endfor %}",
        "joining with ~",
    ),
    (
        '{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}'
        "{% endfor %}",
        "a text of",
    ),
    (
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
        "{% endfor %}",
        "a collection of",
    ),
    (
        "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
        '{% set ns.l = ns.l + ["x" * 1000000 ~ i] %}{% endfor %}',
        "MiB of values",
    ),
    (BIG + '{{ big.replace("x", "yyyyyyyyyy") }}', "str.replace"),
    (BIG + '{{ big|replace("x", "y" * 1000) }}', "the replace filter"),
    ('{{ ("x" * 1000).replace("", "y" * 100000) }}', "str.replace"),
    (BIG + "{{ ([big] * 1000)|join }}", "the join filter"),
    (BIG + '{{ big.join(["a"] * 1000) }}', "str.join"),
    (BIG + '{{ ([big] * 1000)|map("upper")|join }}', "MiB of values"),
    ('{{ "x"|center(999999999) }}', "the center filter"),
    ('{{ "x".center(999999999) }}', "str.center"),
    ('{{ "x".ljust(10 ** 9) }}', "str.ljust"),
    ('{{ "x".zfill(10 ** 9) }}', "str.zfill"),
    ('{{ "\t".expandtabs(10 ** 9) }}', "str.expandtabs"),
    ('{{ ("a\n" * 1000000)|indent(1000) }}', "the indent filter"),
    ('{{ ("a\n" * 100000)|indent("x" * 1000) }}', "the indent filter"),
    ('{{ ("a " * 1000000)|wordwrap(1, wrapstring="x" * 100) }}', "the wordwrap filter"),
    ("{{ [1]|batch(10 ** 9, 0)|list }}", "the batch filter"),
    ("{{ [1]|slice(10 ** 9)|list }}", "the slice filter"),
    ("{{ ([[1] * 1000] * 1000)|sum(start=[])|length }}", "the sum filter"),
    ("{{ [[[[[[1]]]]]]|tojson(indent=10 ** 6) }}", "the tojson filter"),
    (
        '{% macro m() %}{% for i in range(100000) %}{{ "y" * 1000 }}{% endfor %}{% endmacro %}'
        "{{ m()|length }}",
        "a block's output",
    ),
    (
        '{% set s %}{% for i in range(100000) %}{{ "y" * 1000 }}{% endfor %}{% endset %}'
        "{{ s|length }}",
        "a block's output",
    ),
    (
        '{% filter upper %}{% for i in range(100000) %}{{ "y" * 1000 }}{% endfor %}{% endfilter %}',
        "a block's output",
    ),
    ("{{ ([range(100000)|list] * 100000)|string|length }}", "showing this value"),
    ("{{ [range(100000)|list] * 100 }}", "showing this value"),
    ('{% set d = dict.fromkeys(range(100000), "x" * 1000000) %}{{ d }}', "showing this value"),
    ('{{ "x" * 1000000 ~ "x" * 1000000 ~ "x" * 1000000 }}', "joining with ~"),
    ('{% for i in range(100) %}{{ "x" * 1000000 }}{% endfor %}', "output exceeds"),
]

HARMLESS = [
    ('{{ "x"|truncate(10 ** 9) }}', "x"),
    ('{{ "{:>5}|{:.2f}".format(1, 3.14159) }}', "1\\|3.14"),  # Markdown folds spaces
    ('{{ "%5.1f" % 3.14159 }}|{{ "x"|center(5) }}', "3\\.1|x"),
    ("{{ range(3)|list }}", "\\[0, 1, 2\\]"),
    ('{{ dict(a=1, b="é") }}', '{"a": 1, "b": "é"}'),
    ("{{ rows|join(', ', attribute='name') }}", "a, b"),
    ("{{ rows|map(attribute='name')|join('-') }}", "a-b"),
    ('{{ ("a{}b{}"|safe).format(42, "<foo>") }}', "a42b<foo>"),
    ('{{ "<b>"|e }}', "\\<b\\>"),
    ('{{ "**bold**"|safe }}', "**bold**"),
    (
        "{% set ns = namespace(n=0) %}{% for r in rows %}{% set ns.n = ns.n + 1 %}{% endfor %}"
        "{{ ns.n }}",
        "2",
    ),
    ("{% block intro %}hello{% endblock %}", "hello"),
]


def _refused(source: str) -> str:
    with pytest.raises(RenderError) as caught:
        render_string(source, CONTEXT, "t.yaml: body")
    return str(caught.value)


@pytest.mark.parametrize(
    ("source", "reason"), FORMAT_TRICKS + RUNTIME_NAMES + ATTR_CHAINS + GLOBALS
)
def test_escapes_are_refused_naming_what(source: str, reason: str) -> None:
    message = _refused(source)
    assert message.startswith("t.yaml: body (body line 1): ")
    assert reason in message
    assert "0x" not in message  # no object addresses, in errors either


@pytest.mark.parametrize("source", COMPOSITION)
def test_templates_cannot_extend_include_or_import(source: str) -> None:
    message = _refused("line one\n" + source)
    assert message == (
        "t.yaml: body (body line 2): refused: templates cannot extend, include or import "
        "other templates"
    )


@pytest.mark.parametrize(("source", "reason"), BOMBS)
def test_allocation_bombs_are_refused_before_they_allocate(source: str, reason: str) -> None:
    assert reason in _refused(source)


@pytest.mark.parametrize(("source", "shown"), HARMLESS)
def test_ordinary_use_renders(source: str, shown: str) -> None:
    assert render_string(source, CONTEXT, "t.yaml: body") == shown


def test_documents_never_show_a_python_repr() -> None:
    for source, _ in GLOBALS:
        with pytest.raises(RenderError):
            render_string(source, CONTEXT, "t")


def test_every_filter_and_string_method_is_classified() -> None:
    # A filter added by a Jinja upgrade fails environment construction until it is classified.
    assert set(BODY_ENV.filters) <= set(FILTERS)
    assert not DROPPED_FILTERS & set(BODY_ENV.filters)
    public = {name for name in dir(str) if not name.startswith("_")}
    allowed = set(STR_METHODS) | {"format", "format_map"}
    assert public - allowed == {"encode", "maketrans", "translate"}


def test_the_deadline_holds_outside_the_main_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 0.3)
    source = (
        "{% set r = range(100000)|list %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}"
    )
    outcome: list[BaseException] = []

    def render() -> None:
        try:
            render_string(source, {}, "t.yaml: body")
        except RenderError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=render)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert [str(e) for e in outcome] == ["t.yaml: body: rendering took longer than 0.3 s"]
    render_string("{{ 1 }}", {}, "t")  # nothing left pending in this thread either


PEAK_SCRIPT = """
import json, resource, sys
from documents.errors import RenderError
from documents.sandbox import render_string
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = 0
for source in json.loads(sys.argv[1]):
    try:
        render_string(source, {}, "t")
    except RenderError:
        refused += 1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"refused": refused, "growth_mib": (peak - base) / 1024}))
"""
PEAK_GROWTH_MIB = 400  # README: a render's values stay under 128 MiB; this is the process bound


def test_every_bomb_together_stays_under_the_memory_bound() -> None:
    sources = [source for source, _ in BOMBS + FORMAT_TRICKS]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, json.dumps(sources)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    figures = json.loads(done.stdout)
    assert figures["refused"] == len(sources)
    assert figures["growth_mib"] < PEAK_GROWTH_MIB, figures
