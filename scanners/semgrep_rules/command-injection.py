# Test target for command-injection.yaml (semgrep --test). Deliberately insecure code.
import asyncio
import os
import shlex
import subprocess

from flask import Flask, request

app = Flask(__name__)
LIST_CMD = "ls -l /var/log"


def subprocess_cases(host, filename, args):
    # ruleid: airlock.command-injection.subprocess-shell-true
    subprocess.run(f"ping -c 1 {host}", shell=True)
    # ruleid: airlock.command-injection.subprocess-shell-true
    subprocess.check_output("tar xzf " + filename, shell=True, text=True)
    # ruleid: airlock.command-injection.subprocess-shell-true
    subprocess.Popen("convert %s out.png" % filename, shell=True)
    # ruleid: airlock.command-injection.subprocess-shell-true
    subprocess.call(args, shell=True)
    # ruleid: airlock.command-injection.subprocess-shell-true
    subprocess.run(shell=True, args="grep {} /etc/hosts".format(host))
    # ok: airlock.command-injection.subprocess-shell-true
    subprocess.run("ls -l | wc -l", shell=True)
    # ok: airlock.command-injection.subprocess-shell-true
    subprocess.run(LIST_CMD, shell=True)
    cmd = "uptime"
    # ok: airlock.command-injection.subprocess-shell-true
    subprocess.run(cmd, shell=True, check=True)
    # ok: airlock.command-injection.subprocess-shell-true
    subprocess.run(["ping", "-c", "1", host])
    # ok: airlock.command-injection.subprocess-shell-true
    subprocess.run(f"ping -c 1 {host}", shell=False)
    # ok: airlock.command-injection.subprocess-shell-true
    subprocess.run(f"ping -c 1 {shlex.quote(host)}", shell=True)
    # ok: airlock.command-injection.subprocess-shell-true
    subprocess.run(shlex.join(["ping", "-c", "1", host]), shell=True)


def os_system_cases(path, user):
    # ruleid: airlock.command-injection.os-system
    os.system("rm -rf " + path)
    # ruleid: airlock.command-injection.os-system
    out = os.popen(f"id {user}").read()
    # ruleid: airlock.command-injection.os-system
    subprocess.getoutput("du -sh %s" % path)
    # ok: airlock.command-injection.os-system
    os.system("clear")
    # ok: airlock.command-injection.os-system
    os.system(LIST_CMD)
    # ok: airlock.command-injection.os-system
    os.system("rm -rf " + shlex.quote(path))
    return out


async def asyncio_cases(loop, protocol_factory, url):
    # ruleid: airlock.command-injection.asyncio-subprocess-shell
    proc = await asyncio.create_subprocess_shell(f"curl -s {url}")
    # ruleid: airlock.command-injection.asyncio-subprocess-shell
    await loop.subprocess_shell(protocol_factory, "wget " + url)
    # ok: airlock.command-injection.asyncio-subprocess-shell
    await asyncio.create_subprocess_shell("nproc")
    # ok: airlock.command-injection.asyncio-subprocess-shell
    await asyncio.create_subprocess_exec("curl", "-s", url)
    return proc


def shell_c_cases(script, name):
    # ruleid: airlock.command-injection.shell-c-argument
    subprocess.run(["bash", "-c", f"echo hello {name}"])
    # ruleid: airlock.command-injection.shell-c-argument
    subprocess.check_call(["/bin/sh", "-c", script])
    # ruleid: airlock.command-injection.shell-c-argument
    os.execvp("sh", "sh", "-c", script)
    # ok: airlock.command-injection.shell-c-argument
    subprocess.run(["bash", "-c", "set -e; make all"])
    # ok: airlock.command-injection.shell-c-argument
    subprocess.run(["python3", "-c", script])
    # ok: airlock.command-injection.shell-c-argument
    subprocess.run(["sh", "-c", "echo " + shlex.quote(name)])


@app.route("/ping")
def ping():
    host = request.args.get("host", "")
    # ruleid: airlock.command-injection.request-data-to-shell, airlock.command-injection.os-system
    return os.popen("ping -c 1 " + host).read()


@app.route("/lookup/<domain>")
def lookup(domain):
    # ruleid: airlock.command-injection.request-data-to-shell, airlock.command-injection.subprocess-shell-true
    return subprocess.check_output(f"nslookup {domain}", shell=True)


def django_view(request):
    target = request.POST["target"]
    # ruleid: airlock.command-injection.request-data-to-shell, airlock.command-injection.shell-c-argument
    subprocess.run(["sh", "-c", "traceroute " + target])
    # ok: airlock.command-injection.request-data-to-shell
    subprocess.run("traceroute " + shlex.quote(target), shell=True)
    # ok: airlock.command-injection.request-data-to-shell
    subprocess.run(["traceroute", target])
    count = int(request.GET.get("count", "1"))
    # ok: airlock.command-injection.request-data-to-shell
    # ruleid: airlock.command-injection.os-system
    os.system(f"ping -c {count} localhost")


COMMANDS = {"disk": "df -h", "load": "uptime"}


@app.route("/chosen")
def chosen_away():
    cmd = request.args.get("cmd", "")
    custom = False
    if not custom:
        cmd = "uptime"
    # request-data-to-shell stays quiet: the branch always replaces cmd (the pattern rule still sees a variable)
    # ruleid: airlock.command-injection.os-system
    os.system(cmd)
    # request-data-to-shell stays quiet: the command comes from a constant table
    # ruleid: airlock.command-injection.os-system
    os.system(COMMANDS.get(request.args.get("name", ""), "uptime"))
    return "ok"


@app.route("/retainted")
def tainted_again_after_the_known_branch():
    cmd = request.args.get("cmd", "")
    custom = False
    if not custom:
        cmd = "uptime"
    cmd = request.args.get("other", "")
    # ruleid: airlock.command-injection.request-data-to-shell, airlock.command-injection.os-system
    os.system(cmd)
    TABLE = request.args
    # ruleid: airlock.command-injection.request-data-to-shell, airlock.command-injection.os-system
    os.system(TABLE.get("cmd"))
    return "ok"
