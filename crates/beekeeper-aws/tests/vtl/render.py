"""Renders API Gateway mapping templates with airspeed, a Velocity engine.

API Gateway's variables are supplied here, following its documented
semantics: $input.params() (a map of "path", "querystring" and "header"),
$input.params('x') (path, then query string, then header), $input.path
(a JSONPath into the payload, returning objects), $input.json, $input.body,
$util (parseJson, escapeJavaScript, urlEncode, urlDecode), $context
(requestTimeEpoch, and responseOverride.status, which a response template
may set) and $stageVariables. Strings behave as Java strings
(API Gateway runs Velocity on the JVM): trim, indexOf, substring, a regex
split that drops trailing empty strings, and matches() on the whole string.

Reads one JSON request per line on stdin and writes one JSON answer per line:
{"template": "...", "params": {"path": {}, "querystring": {}, "header": {}},
 "body": "...", "requestTimeEpoch": 0, "stageVariables": {}}
-> {"out": "...", "status": <the override, or null>} or {"error": "..."}
"""
import json
import re
import sys
import urllib.parse

import airspeed


class JavaString(str):
    def length(self):
        return len(self)

    def trim(self):
        i, j = 0, len(self)
        while i < j and self[i] <= " ":
            i += 1
        while j > i and self[j - 1] <= " ":
            j -= 1
        return JavaString(self[i:j])

    def indexOf(self, s):
        return self.find(s)

    def substring(self, begin, end=None):
        end = len(self) if end is None else end
        if begin < 0 or end > len(self) or begin > end:
            raise IndexError("StringIndexOutOfBoundsException")
        return JavaString(self[begin:end])

    def startsWith(self, s):
        return self.startswith(s)

    def endsWith(self, s):
        return self.endswith(s)

    def matches(self, regex):
        return re.fullmatch(regex, self) is not None

    def split(self, regex):
        parts = re.split(regex, self)
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        return [JavaString(p) for p in parts]

    def equals(self, other):
        return str(self) == str(other)

    def toString(self):
        return self

    def contains(self, s):
        return s in self


def java(value):
    """Turns parsed JSON into Velocity objects with Java strings."""
    if isinstance(value, str):
        return JavaString(value)
    if isinstance(value, list):
        return [java(v) for v in value]
    if isinstance(value, dict):
        return {k: java(v) for k, v in value.items()}
    return value


def json_path(doc, path):
    """The subset of JSONPath API Gateway templates use: $, .name, [n]."""
    if not path.startswith("$"):
        raise ValueError("JSONPath must start with $")
    cur = doc
    for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path[1:]):
        if cur is None:
            return None
        if name:
            cur = cur.get(name) if isinstance(cur, dict) else None
        else:
            i = int(index)
            cur = cur[i] if isinstance(cur, list) and i < len(cur) else None
    return cur


class Input:
    def __init__(self, params, body):
        self._params = {k: {n: JavaString(v) for n, v in params.get(k, {}).items()}
                        for k in ("path", "querystring", "header")}
        self.body = JavaString(body or "")
        try:
            self._doc = json.loads(body) if body else None
        except ValueError:
            self._doc = None

    def params(self, name=None):
        if name is None:
            return self._params
        for k in ("path", "querystring", "header"):
            if name in self._params[k]:
                return self._params[k][name]
        return None

    def path(self, p):
        return java(json_path(self._doc, p))

    def json(self, p):
        return JavaString(json.dumps(json_path(self._doc, p), separators=(",", ":")))


class Util:
    def parseJson(self, s):
        return java(json.loads(s))

    def escapeJavaScript(self, s):
        out = []
        for c in s:
            if c in "\"'\\/":
                out.append("\\" + c)
            elif c == "\n":
                out.append("\\n")
            elif c == "\r":
                out.append("\\r")
            elif c == "\t":
                out.append("\\t")
            elif ord(c) < 0x20 or ord(c) > 0x7E:
                out.append("\\u%04X" % ord(c))
            else:
                out.append(c)
        return JavaString("".join(out))

    def urlEncode(self, s):
        return JavaString(urllib.parse.quote_plus(s, safe="*"))

    def urlDecode(self, s):
        return JavaString(urllib.parse.unquote_plus(s))


def render(req, cache={}):
    text = req["template"]
    if text not in cache:
        cache[text] = airspeed.Template(text)
    namespace = {
        "input": Input(req.get("params", {}), req.get("body")),
        "util": Util(),
        "context": {"requestTimeEpoch": req.get("requestTimeEpoch", 0), "responseOverride": {}},
        "stageVariables": java(req.get("stageVariables", {})),
    }
    out = cache[text].merge(namespace)
    return out, namespace["context"]["responseOverride"].get("status")


for line in sys.stdin:
    if not line.strip():
        continue
    try:
        out, status = render(json.loads(line))
        answer = {"out": out, "status": status}
    except Exception as e:  # an API Gateway mapping failure: reported, not fatal
        answer = {"error": "%s: %s" % (type(e).__name__, e)}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
