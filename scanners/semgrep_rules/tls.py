# Test target for tls.yaml (semgrep --test). Deliberately insecure code.
import ssl
import urllib.request
import warnings

import aiohttp
import httpx
import requests
import urllib3
from OpenSSL import SSL
from urllib3.exceptions import InsecureRequestWarning

CA_BUNDLE = "/etc/ssl/private-ca.pem"


def requests_cases(url, form):
    # ruleid: airlock.tls.requests-verify-disabled
    requests.get(url, verify=False, timeout=10)
    # ruleid: airlock.tls.requests-verify-disabled
    requests.post(url, data=form, verify=False)
    session = requests.Session()
    # ruleid: airlock.tls.requests-verify-disabled
    session.verify = False
    # ruleid: airlock.tls.requests-verify-disabled
    session.put(url, json=form, verify=False)
    # ok: airlock.tls.requests-verify-disabled
    requests.get(url, verify=CA_BUNDLE, timeout=10)
    # ok: airlock.tls.requests-verify-disabled
    requests.get(url, verify=True, timeout=10)
    # ok: airlock.tls.requests-verify-disabled
    form.validate(verify=False)


async def httpx_cases(url):
    # ruleid: airlock.tls.httpx-verify-disabled
    httpx.get(url, verify=False)
    # ruleid: airlock.tls.httpx-verify-disabled
    async with httpx.AsyncClient(verify=False) as client:
        await client.get(url)
    # ok: airlock.tls.httpx-verify-disabled
    with httpx.Client(verify=ssl.create_default_context(cafile=CA_BUNDLE)) as client:
        client.get(url)


async def aiohttp_cases(url):
    # ruleid: airlock.tls.aiohttp-verify-disabled
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        # ruleid: airlock.tls.aiohttp-verify-disabled
        async with session.get(url, ssl=False) as resp:
            await resp.text()
        # ok: airlock.tls.aiohttp-verify-disabled
        async with session.get(url, ssl=ssl.create_default_context()) as resp:
            await resp.text()
    # ok: airlock.tls.aiohttp-verify-disabled
    return aiohttp.TCPConnector(limit=10)


def context_cases(url, host, sock):
    # ruleid: airlock.tls.unverified-ssl-context
    ctx = ssl._create_unverified_context()
    urllib.request.urlopen(url, context=ctx)
    # ruleid: airlock.tls.unverified-ssl-context
    ssl._create_default_https_context = ssl._create_unverified_context
    # ok: airlock.tls.unverified-ssl-context
    good = ssl.create_default_context()

    client_ctx = ssl.create_default_context()
    # ruleid: airlock.tls.cert-verification-disabled
    client_ctx.check_hostname = False
    # ruleid: airlock.tls.cert-verification-disabled
    client_ctx.verify_mode = ssl.CERT_NONE
    # ruleid: airlock.tls.cert-verification-disabled
    pool = urllib3.PoolManager(cert_reqs="CERT_NONE")
    # ok: airlock.tls.cert-verification-disabled
    good.verify_mode = ssl.CERT_REQUIRED

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain("server.pem")
    # ok: airlock.tls.cert-verification-disabled
    server_ctx.verify_mode = ssl.CERT_NONE
    return pool, good


def warning_cases():
    # ruleid: airlock.tls.urllib3-warnings-disabled
    urllib3.disable_warnings()
    # ruleid: airlock.tls.urllib3-warnings-disabled
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    # ruleid: airlock.tls.urllib3-warnings-disabled
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    # ok: airlock.tls.urllib3-warnings-disabled
    urllib3.disable_warnings(urllib3.exceptions.SystemTimeWarning)
    # ok: airlock.tls.urllib3-warnings-disabled
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def protocol_cases():
    # ruleid: airlock.tls.weak-tls-version
    legacy = ssl.SSLContext(ssl.PROTOCOL_TLSv1)
    # ruleid: airlock.tls.weak-tls-version
    ossl = SSL.Context(SSL.TLSv1_METHOD)
    ctx = ssl.create_default_context()
    # ruleid: airlock.tls.weak-tls-version
    ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    # ok: airlock.tls.weak-tls-version
    names = {ssl.PROTOCOL_TLSv1: "TLS 1.0"}
    # ok: airlock.tls.weak-tls-version
    negotiate = SSL.Context(SSL.SSLv23_METHOD)
    # ok: airlock.tls.weak-tls-version
    modern = ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
    # ok: airlock.tls.weak-tls-version
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # ok: airlock.tls.weak-tls-version
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return legacy, ossl, names, negotiate, modern, client
