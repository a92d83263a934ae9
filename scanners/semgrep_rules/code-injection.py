# Test target for code-injection.yaml (semgrep --test). Deliberately insecure code.
import ast
import json

from flask import Flask, request

app = Flask(__name__)
DEFAULT_EXPR = "1 + 1"


def eval_cases(expr, model, config_text):
    # ruleid: airlock.code-injection.eval-non-literal
    result = eval(expr)
    # ruleid: airlock.code-injection.eval-non-literal
    value = eval(f"{expr} * 2", {"__builtins__": {}})
    # ok: airlock.code-injection.eval-non-literal
    total = eval("1 + 2")
    # ok: airlock.code-injection.eval-non-literal
    model.eval()
    # ok: airlock.code-injection.eval-non-literal
    cfg = ast.literal_eval(config_text)
    # ok: airlock.code-injection.eval-non-literal
    default = eval(DEFAULT_EXPR)
    return result, value, total, cfg, default


def exec_cases(source, plugin_code):
    # ruleid: airlock.code-injection.exec-non-literal
    exec(source)
    # ruleid: airlock.code-injection.exec-non-literal
    code = compile(plugin_code, "<plugin>", "exec")
    # ok: airlock.code-injection.exec-non-literal
    exec("import sys")
    # ok: airlock.code-injection.exec-non-literal
    tree = compile(source, "<ast>", "exec", flags=ast.PyCF_ONLY_AST)
    return code, tree


@app.post("/calc")
def calc():
    formula = request.form["formula"]
    # ruleid: airlock.code-injection.request-data-to-eval, airlock.code-injection.eval-non-literal
    return str(eval(formula))


@app.route("/run/<snippet>")
def run(snippet):
    # ruleid: airlock.code-injection.request-data-to-eval, airlock.code-injection.exec-non-literal
    exec(snippet)
    data = json.loads(request.get_data())
    # ok: airlock.code-injection.request-data-to-eval
    return str(data)


def django_view(request):
    n = int(request.GET.get("n", "0"))
    # ok: airlock.code-injection.request-data-to-eval
    # ruleid: airlock.code-injection.eval-non-literal
    return eval(f"{n} + 1")
