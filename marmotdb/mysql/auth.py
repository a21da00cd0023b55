"""Password credentials and MySQL's authentication plugins, with no plaintext stored.

Theory of operation
-------------------
``make_credential(password)`` returns one string holding everything the server keeps:

    marmot1$<plugin|*>$<native>$<sha2>$<iterations>$<salt>$<pbkdf2>      (hex fields)

* ``native``  = SHA1(SHA1(pw)), what mysql_native_password needs to check a scramble;
* ``sha2``    = SHA256(SHA256(pw)), the "stage 2" digest caching_sha2_password's fast path
  checks a scramble against (MySQL keeps it in an in-memory cache; we store it);
* ``pbkdf2``  = PBKDF2-HMAC-SHA256(pw, salt, iterations), checked when the client sends the
  password itself (caching_sha2 full authentication, over TLS or RSA-encrypted).
* ``plugin``  = the plugin the user must log in with, ``*`` = mysql_native_password or
  caching_sha2_password (the default); sha256_password only for accounts bound to it.
An empty password stores empty digests; only an empty answer matches it.

``AuthExchange`` runs one login's authentication as a small sans-I/O machine. The connection
hands it the plugin and answer from HandshakeResponse41 (``start``) and then every further
client packet (``receive``); each step returns what to send and whether the login is decided:

    client plugin not the user's (or unknown)  -> AuthSwitchRequest(plugin, scramble)
    mysql_native_password                      -> verify scramble: pass | fail
    caching_sha2_password, scramble matches    -> 0x01 0x03 (fast auth success), pass
    caching_sha2_password, no match / disabled -> 0x01 0x04 (perform full authentication)
      then over TLS:       cleartext pw + NUL  -> PBKDF2 check: pass | fail
      without TLS:         0x02                -> 0x01 + RSA public key PEM
                           RSA-OAEP(pw XOR scramble) -> decrypt, PBKDF2 check: pass | fail
      without TLS and RSA key: fail ("requires secure connection")
    sha256_password (accounts bound to it)     -> over TLS: cleartext pw + NUL -> PBKDF2 check
      without TLS:         0x01                -> 0x01 + RSA public key PEM
                           RSA-OAEP(pw XOR scramble) -> decrypt, PBKDF2 check: pass | fail

Fast path without a stored digest. A credential may leave ``sha2`` empty (``make_credential(...,
fast_digest=False)``): nothing password-equivalent-ish and unsalted is then kept at rest. Like
MySQL, the server then keeps SHA256(SHA256(pw)) in memory (``FastAuthCache``) after a
successful full authentication, so every later login of that account takes the fast path.
The cache is keyed by the user *and* the credential's PBKDF2 field: a password change misses.

Missing users get an impostor credential (``impostor_credential``): random digests that match
no answer, so the exchange (auth switch, 0x01 0x04, RSA key, full auth, PBKDF2 cost, error
text) has the same shape and cost as for an existing user given a wrong password.

``mysql_native_password`` can be refused (``native_allowed=False``, MySQL 8.4's
``mysql_native_password=OFF``): a client asking for it is switched to caching_sha2_password,
and an account bound to it is refused with 1524 "Plugin 'mysql_native_password' is not loaded".
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NATIVE = "mysql_native_password"
CACHING_SHA2 = "caching_sha2_password"
SHA256 = "sha256_password"  # only for accounts created WITH it (MySQL 8.0 still has it)
SUPPORTED_PLUGINS = (NATIVE, CACHING_SHA2, SHA256)
ANY_PLUGIN = "*"
_EITHER = (NATIVE, CACHING_SHA2)  # what an ANY_PLUGIN account logs in with
PBKDF2_ITERATIONS = 20_000  # ~3 ms here: full auth is rare (fast path covers normal logins)
SCRAMBLE_BYTES = 20
CREDENTIALS_PARSED_MAX = 4096  # parsed credential strings kept (one per account in use)

_FAST_AUTH_SUCCESS = b"\x01\x03"
_PERFORM_FULL_AUTH = b"\x01\x04"
_REQUEST_PUBLIC_KEY = b"\x02"
_SHA256_REQUEST_PUBLIC_KEY = b"\x01"
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(),
                     label=None)


def _sha1(b: bytes) -> bytes:
    return hashlib.sha1(b).digest()


def _sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    """Bytewise XOR over the shorter length, as one integer operation."""
    n = min(len(a), len(b))
    return (int.from_bytes(a[:n], "big") ^ int.from_bytes(b[:n], "big")).to_bytes(n, "big")


@dataclass(frozen=True, slots=True)
class Credential:
    """A parsed credential string (see module docstring)."""

    plugin: str
    native: bytes
    sha2: bytes
    iterations: int
    salt: bytes
    pbkdf2: bytes
    impostor: bool = False  # stands in for a missing user: never passes

    @property
    def empty_password(self) -> bool:
        return not self.native

    def accepts_plugin(self, plugin: str) -> bool:
        return plugin in SUPPORTED_PLUGINS and self.plugin in (ANY_PLUGIN, plugin)


def make_credential(password: str, plugin: str = ANY_PLUGIN, *, salt: bytes | None = None,
                    iterations: int = PBKDF2_ITERATIONS, fast_digest: bool = True) -> str:
    """The string the server stores for ``password`` (see module docstring).

    ``fast_digest=False`` leaves out SHA256(SHA256(pw)): caching_sha2 logins then take full
    authentication once per server process and the fast path from its cache afterwards."""
    if plugin not in SUPPORTED_PLUGINS and plugin != ANY_PLUGIN:
        raise ValueError(f"unsupported auth plugin {plugin!r}")
    if not password:
        return f"marmot1${plugin}$$$0$$"
    pw = password.encode("utf-8")
    # A salt is a secret-grade random value, not simulation randomness: take it from the OS.
    salt = os.urandom(16) if salt is None else salt
    derived = hashlib.pbkdf2_hmac("sha256", pw, salt, iterations)
    sha2 = _sha256(_sha256(pw)).hex() if fast_digest else ""
    fields = (_sha1(_sha1(pw)).hex(), sha2, str(iterations), salt.hex(), derived.hex())
    return "$".join(("marmot1", plugin) + fields)


@functools.lru_cache(maxsize=CREDENTIALS_PARSED_MAX)
def parse_credential(text: str) -> Credential | None:
    """Parse a credential string; None if it is not one (treated as 'no such user').
    Remembered (a Credential is immutable): every login of an account parses the same text."""
    parts = text.split("$")
    if len(parts) != 7 or parts[0] != "marmot1":
        return None
    try:
        return Credential(parts[1], bytes.fromhex(parts[2]), bytes.fromhex(parts[3]),
                          int(parts[4]), bytes.fromhex(parts[5]), bytes.fromhex(parts[6]))
    except ValueError:
        return None


def impostor_credential(rng: Any) -> Credential:
    """A credential for a user that does not exist (see module docstring). ``rng`` is a
    ``random.Random``-like object (``randbytes``); the digests only have to match nothing."""
    return Credential(ANY_PLUGIN, rng.randbytes(20), rng.randbytes(32), PBKDF2_ITERATIONS,
                      rng.randbytes(16), rng.randbytes(32), impostor=True)


class FastAuthCache:
    """caching_sha2_password's in-memory cache: (user, credential) -> SHA256(SHA256(pw)).

    Bounded to ``entries_max`` accounts (least recently used out first)."""

    __slots__ = ("_entries", "entries_max")

    def __init__(self, entries_max: int = 10_000):
        self._entries: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self.entries_max = entries_max

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user: str, credential: Credential) -> bytes:
        key = (user, credential.pbkdf2)
        digest = self._entries.get(key)
        if digest is None:
            return b""
        self._entries.move_to_end(key)
        return digest

    def put(self, user: str, credential: Credential, password: bytes) -> None:
        if credential.impostor or not password:
            return
        self._entries[(user, credential.pbkdf2)] = _sha256(_sha256(password))
        self._entries.move_to_end((user, credential.pbkdf2))
        while len(self._entries) > self.entries_max:
            self._entries.popitem(last=False)


# --- client-side scrambles (what a client computes; the tests and peers use them) -----------


def scramble_native(password: str, scramble: bytes) -> bytes:
    if not password:
        return b""
    stage1 = _sha1(password.encode("utf-8"))
    return _xor(stage1, _sha1(scramble[:SCRAMBLE_BYTES] + _sha1(stage1)))


def scramble_caching_sha2(password: str, scramble: bytes) -> bytes:
    if not password:
        return b""
    stage1 = _sha256(password.encode("utf-8"))
    return _xor(stage1, _sha256(_sha256(stage1) + scramble[:SCRAMBLE_BYTES]))


def rsa_encrypt_password(password: str, scramble: bytes, public_key_pem: bytes) -> bytes:
    """What a client sends for caching_sha2 full auth without TLS."""
    plain = password.encode("utf-8") + b"\x00"
    mask = scramble[:SCRAMBLE_BYTES]
    xored = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(plain))
    key = serialization.load_pem_public_key(public_key_pem)
    assert isinstance(key, rsa.RSAPublicKey)
    return key.encrypt(xored, _OAEP)


# --- server-side verification ----------------------------------------------------------------


def _is_empty_answer(answer: bytes) -> bool:
    return answer in (b"", b"\x00")


def verify_native(credential: Credential, scramble: bytes, answer: bytes) -> bool:
    if credential.empty_password or _is_empty_answer(answer):
        return credential.empty_password and _is_empty_answer(answer)
    if len(answer) != 20:
        return False
    stage1 = _xor(answer, _sha1(scramble[:SCRAMBLE_BYTES] + credential.native))
    return hmac.compare_digest(_sha1(stage1), credential.native)


def verify_caching_sha2_fast(credential: Credential, scramble: bytes, answer: bytes,
                             digest: bytes | None = None) -> bool:
    """``digest``: SHA256(SHA256(pw)) if not stored in the credential (from the cache)."""
    if credential.empty_password or _is_empty_answer(answer):
        return credential.empty_password and _is_empty_answer(answer)
    stage2 = credential.sha2 if digest is None else digest
    if len(answer) != 32 or not stage2:
        return False
    stage1 = _xor(answer, _sha256(stage2 + scramble[:SCRAMBLE_BYTES]))
    return hmac.compare_digest(_sha256(stage1), stage2)


def verify_cleartext(credential: Credential, password: bytes) -> bool:
    """Full authentication: the client sent the password itself."""
    if credential.empty_password or not password:
        return credential.empty_password and not password
    derived = hashlib.pbkdf2_hmac("sha256", password, credential.salt, credential.iterations)
    return hmac.compare_digest(derived, credential.pbkdf2)


def generate_rsa_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A key for caching_sha2 full auth without TLS (the runtime makes or loads one)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


# --- one login's authentication exchange ------------------------------------------------------


@dataclass(slots=True)
class AuthStep:
    """What to do after one auth input: send ``reply`` (a payload, may be empty), then
    ``passed`` True = authenticated, False = denied, None = wait for the next client packet."""

    reply: bytes = b""
    passed: bool | None = None
    password_used: bool = True  # for "(using password: YES/NO)" in the denial message
    plugin_refused: str = ""  # denied because the account's plugin is switched off (1524)


class AuthExchange:
    """Authentication of one login (see the module docstring for the flow)."""

    __slots__ = (
        "_cache",
        "_cred",
        "_default_plugin",
        "_fast_path",
        "_native_allowed",
        "_phase",
        "_plugin",
        "_rsa_key",
        "_scramble",
        "_switched",
        "_tls",
        "_user",
    )

    def __init__(self, credential: Credential | None, scramble: bytes, *, tls: bool,
                 rsa_key: rsa.RSAPrivateKey | None, default_plugin: str = CACHING_SHA2,
                 fast_path_enabled: bool = True, native_allowed: bool = True,
                 cache: FastAuthCache | None = None, user: str = ""):
        self._cred = credential
        self._scramble = scramble
        self._tls = tls
        self._rsa_key = rsa_key
        self._fast_path = fast_path_enabled
        self._native_allowed = native_allowed
        self._default_plugin = default_plugin
        self._cache = cache
        self._user = user
        self._plugin = ""
        self._phase = "answer"  # answer -> full_auth (caching_sha2) -> done
        self._switched = False

    @property
    def plugin(self) -> str:
        return self._plugin

    def start(self, client_plugin: str, answer: bytes) -> AuthStep:
        cred = self._cred
        wanted = self._plugin_for(client_plugin)
        if wanted == NATIVE and not self._native_allowed:
            return AuthStep(passed=False, password_used=not _is_empty_answer(answer),
                            plugin_refused=NATIVE)
        if wanted != client_plugin:
            return self._switch_to(wanted)
        self._plugin = client_plugin
        if cred is None:
            return AuthStep(passed=False, password_used=not _is_empty_answer(answer))
        return self._check_answer(answer)

    def receive(self, payload: bytes) -> AuthStep:
        if self._phase == "answer":
            return self.start(self._plugin, payload) if self._cred is not None \
                else AuthStep(passed=False, password_used=not _is_empty_answer(payload))
        if self._phase == "full_auth":
            return self._full_auth(payload)
        return AuthStep(passed=False)

    def _plugin_for(self, client_plugin: str) -> str:
        cred = self._cred
        if cred is not None and cred.plugin != ANY_PLUGIN:
            return cred.plugin
        if client_plugin == NATIVE and not self._native_allowed:
            return CACHING_SHA2
        return client_plugin if client_plugin in _EITHER else self._default_plugin

    def _switch_to(self, plugin: str) -> AuthStep:
        if self._switched:  # a client that answers a switch with yet another plugin
            return AuthStep(passed=False)
        self._switched = True
        self._plugin = plugin
        reply = b"\xfe" + plugin.encode("ascii") + b"\x00" + self._scramble + b"\x00"
        return AuthStep(reply=reply)

    def _check_answer(self, answer: bytes) -> AuthStep:
        cred = self._cred
        assert cred is not None
        used = not _is_empty_answer(answer)
        if self._plugin == NATIVE:
            passed = verify_native(cred, self._scramble, answer) and not cred.impostor
            return AuthStep(passed=passed, password_used=used)
        if self._plugin == SHA256:
            return self._sha256_answer(answer)
        digest = None
        if not cred.sha2 and self._cache is not None:
            digest = self._cache.get(self._user, cred)
        if self._fast_path and not cred.impostor \
                and verify_caching_sha2_fast(cred, self._scramble, answer, digest):
            return AuthStep(reply=_FAST_AUTH_SUCCESS if used else b"", passed=True,
                            password_used=used)
        if not used:  # an empty answer needs no full auth: the password is empty or wrong
            return AuthStep(passed=cred.empty_password, password_used=False)
        self._phase = "full_auth"
        return AuthStep(reply=_PERFORM_FULL_AUTH)

    def _sha256_answer(self, answer: bytes) -> AuthStep:
        """sha256_password: the password itself over TLS (or an empty one); without TLS the
        client asks for the RSA public key (0x01) and sends it encrypted, as caching_sha2's
        full authentication does."""
        if self._tls or _is_empty_answer(answer):
            step = self._check_cleartext(answer[:-1] if answer.endswith(b"\x00") else answer)
            step.password_used = not _is_empty_answer(answer)
            return step
        self._phase = "full_auth"
        if answer == _SHA256_REQUEST_PUBLIC_KEY:
            if self._rsa_key is None:
                return AuthStep(passed=False)
            return AuthStep(reply=b"\x01" + public_key_pem(self._rsa_key))
        return self._full_auth(answer)

    def _full_auth(self, payload: bytes) -> AuthStep:
        if self._tls:
            return self._check_cleartext(payload[:-1] if payload.endswith(b"\x00") else payload)
        if self._rsa_key is None:
            return AuthStep(passed=False)
        if payload == _REQUEST_PUBLIC_KEY:
            return AuthStep(reply=b"\x01" + public_key_pem(self._rsa_key))
        try:
            xored = self._rsa_key.decrypt(payload, _OAEP)
        except ValueError:
            return AuthStep(passed=False)
        mask = self._scramble
        plain = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(xored))
        return self._check_cleartext(plain[:-1] if plain.endswith(b"\x00") else plain)

    def _check_cleartext(self, password: bytes) -> AuthStep:
        cred = self._cred
        assert cred is not None
        self._phase = "done"
        passed = verify_cleartext(cred, password) and not cred.impostor
        if passed and self._cache is not None and not cred.sha2:
            self._cache.put(self._user, cred, password)
        return AuthStep(passed=passed)
