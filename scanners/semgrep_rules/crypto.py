# Test target for crypto.yaml (semgrep --test). Deliberately insecure code.
import hashlib
import os
import random
import secrets
import string

from Crypto.Cipher import AES, ARC4, DES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def password_hashing(password: str, user, salt: bytes, reset_token: str):
    # ruleid: airlock.crypto.weak-password-hash
    digest = hashlib.md5(password.encode()).hexdigest()
    # ruleid: airlock.crypto.weak-password-hash
    legacy = hashlib.sha1(salt + user.password.encode("utf-8")).hexdigest()
    # ruleid: airlock.crypto.weak-password-hash
    other = hashlib.new("md5", password.encode()).hexdigest()
    # ruleid: airlock.crypto.md5-sha1-usage
    hasher = hashlib.sha1()
    # ruleid: airlock.crypto.weak-password-hash
    hasher.update(password.encode())
    # ok: airlock.crypto.weak-password-hash
    strong = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 600_000)
    # ok: airlock.crypto.weak-password-hash
    # ruleid: airlock.crypto.md5-sha1-usage
    etag = hashlib.md5(user.avatar_bytes).hexdigest()
    # ruleid: airlock.crypto.fast-hash-for-password
    stored = hashlib.sha256(password.encode()).hexdigest()
    # ruleid: airlock.crypto.fast-hash-for-password
    salted = hashlib.sha512(salt + password.encode()).hexdigest()
    h256 = hashlib.sha256()
    # ok: airlock.crypto.weak-password-hash
    # ruleid: airlock.crypto.fast-hash-for-password
    h256.update(password.encode())
    # ok: airlock.crypto.fast-hash-for-password
    token_digest = hashlib.sha256(reset_token.encode()).hexdigest()
    # ok: airlock.crypto.fast-hash-for-password
    scrypted = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return digest, legacy, other, strong, etag, stored, salted, token_digest, scrypted


def generic_hashes(data: bytes, path: str):
    # ruleid: airlock.crypto.md5-sha1-usage
    checksum = hashlib.md5(data).hexdigest()
    # ruleid: airlock.crypto.md5-sha1-usage
    h = hashlib.sha1()
    # ruleid: airlock.crypto.md5-sha1-usage
    fingerprint = hashes.Hash(hashes.SHA1())
    # ok: airlock.crypto.md5-sha1-usage
    cache_key = hashlib.md5(path.encode(), usedforsecurity=False).hexdigest()
    # ok: airlock.crypto.md5-sha1-usage
    good = hashlib.sha256(data).hexdigest()
    return checksum, h, fingerprint, cache_key, good


def random_cases(user, length=32):
    alphabet = string.ascii_letters + string.digits
    # ruleid: airlock.crypto.insecure-random-for-secret
    token = "".join(random.choice(alphabet) for _ in range(length))
    # ruleid: airlock.crypto.insecure-random-for-secret
    user.reset_code = random.randint(100000, 999999)
    # ruleid: airlock.crypto.insecure-random-for-secret
    api_key = "%032x" % random.getrandbits(128)
    # ok: airlock.crypto.insecure-random-for-secret
    session_token = secrets.token_urlsafe(32)
    # ok: airlock.crypto.insecure-random-for-secret
    password = "".join(random.SystemRandom().choice(alphabet) for _ in range(length))
    # ok: airlock.crypto.insecure-random-for-secret
    max_tokens = random.randint(16, 64)
    # ok: airlock.crypto.insecure-random-for-secret
    jitter = random.uniform(0.1, 0.5)
    # ok: airlock.crypto.insecure-random-for-secret
    token_ids = random.sample(range(50_000), 8)
    # ruleid: airlock.crypto.insecure-random-for-secret
    csrf_token_hex = "%x" % random.getrandbits(64)
    return token, api_key, session_token, password, max_tokens, jitter, token_ids, csrf_token_hex


def generate_otp():
    # ruleid: airlock.crypto.insecure-random-for-secret
    return str(random.randint(0, 999999)).zfill(6)


def pick_color(colors):
    # ok: airlock.crypto.insecure-random-for-secret
    return random.choice(colors)


def cipher_cases(key: bytes, iv: bytes, data: bytes):
    # ruleid: airlock.crypto.ecb-mode
    ecb = AES.new(key, AES.MODE_ECB)
    # ruleid: airlock.crypto.ecb-mode
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    # ok: airlock.crypto.ecb-mode
    gcm = AES.new(key, AES.MODE_GCM)
    # ok: airlock.crypto.ecb-mode
    cbc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    # ruleid: airlock.crypto.broken-cipher
    des = DES.new(key[:8], DES.MODE_CBC, iv[:8])
    # ruleid: airlock.crypto.broken-cipher
    rc4 = ARC4.new(key)
    # ruleid: airlock.crypto.broken-cipher
    tdes = Cipher(algorithms.TripleDES(key), modes.CBC(iv[:8])).encryptor()
    # ok: airlock.crypto.broken-cipher
    aes = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    # ok: airlock.crypto.broken-cipher
    nonce = os.urandom(12)
    return ecb, enc, gcm, cbc, des, rc4, tdes, aes, nonce
