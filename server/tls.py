"""TLS on the server's one port, and the rule that keeps plain HTTP on the machine itself.

With a certificate, the port the panel and the websocket protocol share speaks only TLS: ``https://``
for the panel's (and the headset page's) files, ``wss://`` for the protocol, plaintext refused in the
TLS handshake. Without one, passwords, tokens and patient data would cross the network in the clear,
and a headset's browser would not run WebXR (it needs a secure context): so a server without a
certificate listens on loopback alone, unless the operator says ``--insecure-http`` (a lab behind its
own TLS proxy, say), which is logged as a warning. ``python -m server tls-init`` makes a clinic's
certificates (:mod:`server.tls_init`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl

log = logging.getLogger(__name__)

HSTS_MAX_AGE_S = 365 * 24 * 3600  # a browser that saw https here refuses plain http for a year


class TLSError(Exception):
    """The certificate or key cannot be used, or the listening address needs TLS: one line, said at start."""


def server_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """The listener's context: TLS 1.2 or newer, the certificate (its chain after it) and its key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except FileNotFoundError as exc:
        raise TLSError(f"cannot read {exc.filename or cert_path}: no such file "
                       "(make one with `python -m server tls-init --host NAME`)") from None
    except PermissionError as exc:
        raise TLSError(f"cannot read {exc.filename or key_path}: permission denied") from None
    except ssl.SSLError as exc:
        raise TLSError(f"--tls-cert {cert_path} and --tls-key {key_path} cannot be used together "
                       f"({exc.reason or exc}): is the key the certificate's, both PEM?") from None
    return context


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` (as ``--host`` names it) reaches no other machine: every address
    it stands for is a loopback address. An empty host (every interface) or an unknown name is not."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def check_listener(host: str, tls: bool, insecure_http: bool) -> str | None:
    """The warning to log for a plaintext listener reachable from the network, or None; raises
    :class:`TLSError` when such a listener was not asked for with ``insecure_http``."""
    if tls or is_loopback(host):
        return None
    if not insecure_http:
        raise TLSError(f"--host {host or '(every interface)'} reaches other machines, and without a certificate "
                       "passwords, tokens and patient data would cross the network in the clear: give "
                       "--tls-cert and --tls-key (`python -m server tls-init --host NAME` makes them), or "
                       "listen on 127.0.0.1, or say --insecure-http (behind a TLS proxy of your own)")
    return (f"serving plain HTTP and ws:// on {host or 'every interface'} (--insecure-http): anyone on the "
            "network can read what crosses it, and headset browsers will not start WebXR")


def listener_context(host: str, cert_path: str | None, key_path: str | None,
                     insecure_http: bool) -> ssl.SSLContext | None:
    """The listener's TLS context (None: plaintext, on loopback or as asked), or :class:`TLSError`."""
    context = server_context(cert_path, key_path) if cert_path and key_path else None
    warning = check_listener(host, context is not None, insecure_http)
    if warning:
        log.warning(warning)
    return context
