"""What one run measured: figures, key types, ratios, and the two ways to show them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: What to expect of the lab server on an idle 2-core machine, as ratios of figures from
#: the same run. The benchmark reports them ("expect >= ..." in the table, ``targets_met``
#: in the JSON); the tests check the structure of a result, never its speed.
TARGETS = {
    "new_connection_vs_raw": 0.7,
    "keepalive_vs_new_connection": 5.0,
    "plain_http_vs_mtls_keepalive": 1.0,
}

KEY_LABELS = {"ec": "ECDSA P-256", "rsa2048": "RSA-2048", "rsa4096": "RSA-4096"}


@dataclass
class Figure:
    """One measured rate: that of its median operation, and what the connections did.

    ``median_ms``, ``p10_ms`` and ``p90_ms`` are over every timed operation of every
    round; ``rps`` is ``1000 / median_ms``; ``rounds`` holds each round's median rate, to
    show the spread. ``connections`` and ``resumed`` are the client's count;
    ``server_handshakes`` and ``server_resumed`` the server's own.
    """

    key: str
    label: str
    group: str
    rps: float = 0.0
    median_ms: float = 0.0
    p10_ms: float = 0.0
    p90_ms: float = 0.0
    rounds: list = field(default_factory=list)
    requests: int = 0
    connections: int = 0
    resumed: int = 0
    server_handshakes: int | None = None
    server_resumed: int | None = None


@dataclass
class KeyType:
    key_type: str
    label: str
    keygen_ms: float
    keygen_samples: int
    handshake_rps: float


@dataclass
class BenchResult:
    """Everything one run measured; ``to_dict()`` is the ``--json`` line."""

    plan: str
    figures: dict
    key_types: dict
    environment: dict
    errors: list = field(default_factory=list)

    def rps(self, key: str) -> float:
        return self.figures[key].rps

    def ratio(self, numerator: str, denominator: str) -> float:
        den = self.rps(denominator)
        return self.rps(numerator) / den if den else 0.0

    @property
    def ratios(self) -> dict:
        r = self.ratio
        return {
            "new_connection_vs_raw": r("lab_new_connection", "raw_handshake"),
            "keepalive_vs_new_connection": r("lab_keepalive", "lab_new_connection"),
            "plain_http_vs_mtls_keepalive": r("plain_http_keepalive", "lab_keepalive"),
            "resumed_vs_new_connection": r("lab_resumed", "lab_new_connection"),
            "mtls_vs_server_tls_new_connection": r(
                "lab_new_connection", "server_tls_new_connection"
            ),
            "mtls_vs_plain_http_new_connection": r(
                "lab_new_connection", "plain_http_new_connection"
            ),
            "requests_keepalive_vs_new_connection": r(
                "requests_keepalive", "requests_new_connection"
            ),
        }

    @property
    def targets_met(self) -> dict:
        ratios = self.ratios
        return {name: ratios[name] >= bar for name, bar in TARGETS.items()}

    def to_dict(self) -> dict:
        out = {f"{key}_rps": round(f.rps, 1) for key, f in self.figures.items()}
        out.update({name: round(value, 3) for name, value in self.ratios.items()})
        out["targets"] = dict(TARGETS)
        out["targets_met"] = self.targets_met
        out["plan"] = self.plan
        out["figures"] = [
            {
                **asdict(f),
                "rps": round(f.rps, 1),
                "rounds": [round(r, 1) for r in f.rounds],
                **{k: round(getattr(f, k), 3) for k in ("median_ms", "p10_ms", "p90_ms")},
            }
            for f in self.figures.values()
        ]
        out["key_types"] = {
            k: {
                **asdict(v),
                "keygen_ms": round(v.keygen_ms, 3),
                "handshake_rps": round(v.handshake_rps, 1),
            }
            for k, v in self.key_types.items()
        }
        out["environment"] = self.environment
        out["errors"] = list(self.errors)
        return out

    def table(self) -> str:
        """The human-readable report: figures by group, then the ratios and what to expect."""
        env = self.environment
        lines = [
            f"mTLS Lab benchmark ({self.plan}): 127.0.0.1, {env['cpus']} CPUs, "
            f"load {env['load_before']} -> {env['load_after']}, {env['openssl']}",
            f"client for compared figures: {env['client_stack']}",
            "",
            f"{'group':<12} {'figure':<50} {'req/s':>7} {'median ms':>10} {'p90 ms':>7}  "
            "connections (resumed)",
        ]
        for f in self.figures.values():
            conns = f"{f.connections}" + (f" ({f.resumed})" if f.resumed else "")
            lines.append(
                f"{f.group:<12} {f.label:<50} {f.rps:>7.0f} {f.median_ms:>10.2f} "
                f"{f.p90_ms:>7.2f}  {conns}"
            )
        lines += ["", f"{'key type':<12} {'key generation':>16} {'mTLS handshakes/s':>19}"]
        for k in self.key_types.values():
            lines.append(f"{k.label:<12} {k.keygen_ms:>13.2f} ms {k.handshake_rps:>19.0f}")
        lines += ["", "ratios (same run)"]
        met = self.targets_met
        for name, value in self.ratios.items():
            bar = TARGETS.get(name)
            verdict = f"  expect >= {bar:g}: {'yes' if met[name] else 'NO'}" if bar else ""
            lines.append(f"  {name:<40} {value:>7.2f}{verdict}")
        if self.errors:
            lines += ["", "errors:"] + [f"  {e}" for e in self.errors]
        return "\n".join(lines)
