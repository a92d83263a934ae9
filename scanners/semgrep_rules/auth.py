# Test target for auth.yaml (semgrep --test). Deliberately insecure code.
import os

import jwt
import paramiko

JWT_SECRET = "my-jwt-signing-secret-2024"
IDP_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfakefakefakefakefakefakefakefake
-----END PUBLIC KEY-----"""


def issue(payload, user):
    # ruleid: airlock.auth.jwt-hardcoded-secret
    token = jwt.encode(payload, "super-secret-key", algorithm="HS256")
    # ruleid: airlock.auth.jwt-hardcoded-secret
    token2 = jwt.encode(payload, JWT_SECRET, algorithm="HS256")
    # ok: airlock.auth.jwt-hardcoded-secret
    token3 = jwt.encode(payload, os.environ["JWT_SECRET"], algorithm="HS256")
    # ok: airlock.auth.jwt-hardcoded-secret
    token4 = jwt.encode(payload, user.signing_key, algorithm="HS256")
    # ruleid: airlock.auth.jwt-none-algorithm
    unsigned = jwt.encode(payload, None, algorithm="none")
    return token, token2, token3, token4, unsigned


def verify(token, key):
    # ruleid: airlock.auth.jwt-verification-disabled
    claims = jwt.decode(token, options={"verify_signature": False})
    # ruleid: airlock.auth.jwt-verification-disabled
    legacy = jwt.decode(token, key, verify=False)
    # ok: airlock.auth.jwt-verification-disabled
    checked = jwt.decode(token, key, algorithms=["HS256"], options={"verify_aud": False})
    # ok: airlock.auth.jwt-verification-disabled
    header = jwt.get_unverified_header(token)
    # ok: airlock.auth.jwt-hardcoded-secret
    from_idp = jwt.decode(token, IDP_PUBLIC_KEY, algorithms=["RS256"])
    # ruleid: airlock.auth.jwt-none-algorithm
    loose = jwt.decode(token, key, algorithms=["HS256", "none"])
    # ok: airlock.auth.jwt-none-algorithm
    strict = jwt.decode(token, key, algorithms=["RS256"])
    return claims, legacy, checked, header, from_idp, loose, strict


def ssh(host):
    client = paramiko.SSHClient()
    # ruleid: airlock.auth.paramiko-auto-add-policy
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    # ok: airlock.auth.paramiko-auto-add-policy
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.load_system_host_keys()
    client.connect(host)
    return client


def delete_user(current_user, target, password):
    # ruleid: airlock.auth.assert-for-authorization
    assert current_user.is_admin, "admins only"
    # ruleid: airlock.auth.assert-for-authorization
    assert current_user.has_perm("users.delete")
    # ruleid: airlock.auth.assert-for-authorization
    assert check_password(password, target.password_hash)
    # ok: airlock.auth.assert-for-authorization
    assert isinstance(target.id, int)
    # ok: airlock.auth.assert-for-authorization
    if not current_user.is_superuser:
        raise PermissionError("superusers only")
    target.delete()


def check_password(password, stored):
    return password == stored
