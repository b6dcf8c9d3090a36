"""`/api/docs`: the OpenAPI document as one self-contained page (no scripts, no CDN: offline).

Every operation with its parameters (type, limits, default, description), its request body
and its answers, each answer's shape as a table of fields; every schema once at the end,
linked from wherever it is used. Descriptions are Markdown, rendered with raw HTML disabled
(markdown-it-py, CommonMark), so nothing in a description can inject markup.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45;color:#1f2937}code{background:#f3f4f6;padding:0 .2rem;border-radius:3px}"
    "pre code{display:block;padding:.5rem}section.op{border-top:1px solid #d1d5db;"
    "padding:.6rem 0}.m{font-weight:bold;color:#065f46;margin-right:.4rem}"
    ".m.post{color:#1e40af}table{border-collapse:collapse;margin:.3rem 0 .6rem;width:100%}"
    "th,td{border:1px solid #e5e7eb;padding:.2rem .4rem;text-align:left;vertical-align:top}"
    "th{background:#f9fafb;font-weight:600}td p{margin:0}h4{margin:.6rem 0 .2rem}"
    ".auth{color:#6b7280;font-size:.9rem}nav ul{columns:2}"
)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False})  # raw HTML in a description is escaped


def markdown(text: str | None) -> str:
    return _markdown().render(text or "")


def inline(text: str | None) -> str:
    return _markdown().renderInline(text or "")


def _e(text: object) -> str:
    return html.escape(str(text))


def _anchor(name: str) -> str:
    return "schema-" + "".join(c if c.isalnum() else "-" for c in name)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_text(spec: dict[str, Any]) -> str:
    """A field's type as HTML: `string`, `list of <a>Account</a>`, `integer or null`."""
    if "$ref" in spec:
        name = _ref_name(spec["$ref"])
        return f"<a href='#{_anchor(name)}'>{_e(name)}</a>"
    if "const" in spec:
        return f"<code>{_e(spec['const'])}</code>"
    if "enum" in spec:
        return "one of " + ", ".join(f"<code>{_e(value)}</code>" for value in spec["enum"])
    for combiner in ("anyOf", "oneOf", "allOf"):
        if combiner in spec:
            parts = [type_text(part) for part in spec[combiner]]
            joiner = " and " if combiner == "allOf" else " or "
            return joiner.join(parts)
    kind = spec.get("type")
    if kind == "array":
        return "list of " + type_text(spec.get("items", {}))
    if kind == "object" and isinstance(spec.get("additionalProperties"), dict):
        return "object of " + type_text(spec["additionalProperties"])
    text = _e(kind or "any")
    if spec.get("format"):
        text += f" ({_e(spec['format'])})"
    return text


def limits_text(spec: dict[str, Any]) -> str:
    """`1 to 36600, default 30`: what a value may be."""
    found = []
    if "minimum" in spec and "maximum" in spec:
        found.append(f"{spec['minimum']} to {spec['maximum']}")
    elif "minimum" in spec:
        found.append(f"at least {spec['minimum']}")
    elif "maximum" in spec:
        found.append(f"at most {spec['maximum']}")
    if spec.get("minLength", 0) > 1:
        found.append(f"at least {spec['minLength']} characters")
    elif spec.get("minLength") == 1:
        found.append("not empty")
    if "maxLength" in spec:
        found.append(f"at most {spec['maxLength']} characters")
    if "pattern" in spec:
        found.append(f"matches <code>{_e(spec['pattern'])}</code>")
    if "default" in spec and spec["default"] is not None:
        found.append(f"default <code>{_e(spec['default'])}</code>")
    return ", ".join(found)


def described_text(description: str | None, spec: dict[str, Any]) -> str:
    """The description (Markdown, inline) followed by what the value may be."""
    described = inline(description or "")
    limits = limits_text(spec)
    if limits:
        described = f"{described} ({limits})" if described else limits
    return described


def fields_table(schema: dict[str, Any], components: dict[str, Any]) -> str:
    """The fields of an object schema (a `$ref` is followed once) as a table."""
    if "$ref" in schema:
        schema = components.get(_ref_name(schema["$ref"]), {})
    properties = schema.get("properties")
    if not properties:
        return f"<p>{type_text(schema)}</p>"
    required = set(schema.get("required", []))
    rows = ["<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>"]
    for name, spec in properties.items():
        described = described_text(spec.get("description"), spec)
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{type_text(spec)}</td>"
            f"<td>{'yes' if name in required else 'no'}</td><td>{described}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _body_schema(content: dict[str, Any] | None) -> dict[str, Any] | None:
    if not content:
        return None
    media = content.get("application/json") or next(iter(content.values()), {})
    return media.get("schema")


def operation_html(
    method: str, path: str, operation: dict[str, Any], components: dict[str, Any]
) -> str:
    parts = [
        f"<section class='op' id='{_e(operation.get('operationId', path))}'>",
        f"<h3><span class='m {method}'>{method.upper()}</span><code>{_e(path)}</code></h3>",
        f"<p>{inline(operation.get('summary', ''))}</p>",
        markdown(operation.get("description")),
        "<p class='auth'>"
        + (
            "Needs <code>Authorization: Bearer &lt;access token&gt;</code>."
            if operation.get("security")
            else "No token needed."
        )
        + "</p>",
    ]
    parameters = operation.get("parameters", [])
    if parameters:
        parts.append(
            "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>"
            "<th>required</th><th>description</th></tr>"
        )
        for parameter in parameters:
            spec = parameter.get("schema", {})
            described = described_text(
                parameter.get("description") or spec.get("description"), spec
            )
            parts.append(
                f"<tr><td><code>{_e(parameter['name'])}</code></td><td>{_e(parameter['in'])}</td>"
                f"<td>{type_text(spec)}</td><td>{'yes' if parameter.get('required') else 'no'}"
                f"</td><td>{described}</td></tr>"
            )
        parts.append("</table>")
    body = operation.get("requestBody")
    if body:
        schema = _body_schema(body.get("content"))
        parts.append("<h4>Request body (JSON)</h4>")
        if schema is not None:
            parts.append(fields_table(schema, components))
    parts.append("<h4>Answers</h4>")
    for status, answer in operation.get("responses", {}).items():
        schema = _body_schema(answer.get("content"))
        parts.append(f"<p><b>{_e(status)}</b> {inline(answer.get('description', ''))}")
        if schema is not None and str(status).startswith("2"):
            parts.append("</p>" + fields_table(schema, components))
        elif schema is not None:
            parts.append(f": {type_text(schema)}</p>")
        else:
            parts.append("</p>")
    parts.append("</section>")
    return "".join(parts)


def docs_page(schema: dict[str, Any]) -> str:
    """The whole page for the OpenAPI document `schema`."""
    info = schema.get("info", {})
    components = schema.get("components", {}).get("schemas", {})
    operations = [
        (method, path, operation)
        for path, methods in schema.get("paths", {}).items()
        for method, operation in methods.items()
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(info.get('title', 'API'))}</h1>",
        markdown(info.get("description")),
        "<p>The machine-readable document: <a href='/api/schema'><code>/api/schema</code></a>"
        " (OpenAPI).</p><nav><h2>Operations</h2><ul>",
    ]
    for method, path, operation in operations:
        parts.append(
            f"<li><a href='#{_e(operation.get('operationId', path))}'>{method.upper()} "
            f"<code>{_e(path)}</code></a></li>"
        )
    parts.append("</ul></nav><h2>Operations in detail</h2>")
    parts.extend(operation_html(method, path, op, components) for method, path, op in operations)
    parts.append("<h2>Schemas</h2>")
    for name, spec in components.items():
        parts.append(
            f"<section id='{_anchor(name)}'><h3>{_e(name)}</h3>"
            f"{markdown(spec.get('description'))}{fields_table(spec, components)}</section>"
        )
    parts.append("</body></html>")
    return "".join(parts)
