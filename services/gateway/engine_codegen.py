"""Regenerates the Billing Engine's gRPC code from proto/billing_engine.proto:

    python -m services.gateway.engine_codegen

The generated modules live in services/gateway/engine/ (committed, never edited by hand);
tests/unit/gateway/test_engine_contract.py fails when they differ from what this
command writes, so the contract and the code cannot drift apart."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto" / "billing_engine.proto"
PACKAGE = Path("services") / "gateway" / "engine"
GENERATED = ("billing_engine_pb2.py", "billing_engine_pb2.pyi", "billing_engine_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    """Writes the generated modules under `out_root`/services/gateway/engine/."""
    from grpc_tools import protoc

    (out_root / PACKAGE).mkdir(parents=True, exist_ok=True)
    # Mapping the proto into the package path makes the generated imports absolute
    # (`from services.gateway.engine import billing_engine_pb2`).
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={PACKAGE.as_posix()}={PROTO.parent}",
            f"--python_out={out_root}",
            f"--pyi_out={out_root}",
            f"--grpc_python_out={out_root}",
            (PACKAGE / PROTO.name).as_posix(),
        ]
    )
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    return [out_root / PACKAGE / name for name in GENERATED]


if __name__ == "__main__":
    for path in generate(ROOT):
        print(f"wrote {path.relative_to(ROOT)}")
    sys.exit(0)
