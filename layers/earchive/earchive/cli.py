"""The ``earchive`` command line: sample-case, pack, verify, demo, tsa, dev-ca.

Exit codes: 0 success; 1 the input was rejected or a check failed (with a
report that names the case, file and rule); 2 only for a wrong command line.
The last line printed on success is the path the command made, so scripts
can use ``$(earchive pack … | tail -1)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .cli_admin import add_admin_parsers
from .cli_config import add_config_parser
from .cli_console import add_console_parser
from .cli_institution import add_institution_parser
from .cli_local import add_local_parsers, progress_printer
from .cli_receive import add_receive_parser
from .cli_status import cmd_status
from .cli_transfer import add_transfer_parser
from .cli_users import add_users_parser
from .config import current
from .errors import EarchiveError, TransferError, UsageError


def cmd_sample_case(args: argparse.Namespace) -> int:
    """`earchive sample-case`: a realistic case folder (or zip), optionally with one defect (development tools)."""
    from earchive_devtools.sample import sample_case, zip_case

    big = args.size_mb >= 50 and (sys.stderr.isatty() or args.progress)
    writing, zipping = progress_printer(big), progress_printer(big)
    case = sample_case(args.out_dir, seed=args.seed, files=args.files, size_mb=args.size_mb, defect=args.defect, remarks=args.remarks,
                       progress=(lambda d, t: writing("写入材料 writing", d, t)) if writing else None)
    print(f"case {case.project_id}: {case.case['task_name']} ({case.case['task_type']})", file=sys.stderr)
    if args.zip:
        out = zip_case(case.folder, case.folder.with_suffix(".zip"), gbk_names=args.defect == "gbk-names",
                       progress=(lambda d, t: zipping("压缩 zipping", d, t)) if zipping else None)
        print(out)
    else:
        print(case.folder)
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    """`earchive pack`: collect, organise, pack and seal one case offline; prints the package path."""
    from .config import use_crypto_profile
    from .crypto.signers import make_signer, make_tsa, require_profile
    from .domain.pack import pack

    if args.crypto_profile:  # one setting for the whole run, as EARCHIVE_CRYPTO_PROFILE is for a deployment
        use_crypto_profile(args.crypto_profile)
    signer = require_profile(make_signer(args.signer))
    tsa = make_tsa(args.tsa)
    show = args.progress or (args.progress is None and sys.stderr.isatty())
    result = pack(args.case, args.out, serial=args.serial, signer=signer, tsa=tsa, overwrite=args.force,
                  progress=progress_printer(bool(show)))
    if args.json:  # one JSON document (it holds the package path)
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"packed {result.project_id} as {result.record_code}: {len(result.files)} files, "
          f"{result.total_bytes:,} bytes in {result.seconds:.2f}s; signed by {result.signer}, "
          f"timestamped by {result.tsa}", file=sys.stderr)
    print(result.path)
    return 0


def _seal_identity(args: argparse.Namespace):
    """Who may seal, from --seal-cert / --seal-policy (default: $EARCHIVE_SEAL_CERTS / $EARCHIVE_SEAL_POLICY, else development)."""
    from .crypto.identity import SealIdentity

    settings = current()
    certs = list(args.seal_cert or []) or ([settings.seal_certs] if settings.seal_certs else [])
    policies = list(args.seal_policy or []) or [p for p in (settings.seal_policy or "").split(",") if p]
    return SealIdentity.from_files(certs, policies) if certs or policies else SealIdentity.development()


def _identity_options(s: argparse.ArgumentParser) -> None:
    """The options that say whom a verifier trusts, shared by verify and verify-batch."""
    s.add_argument("--tsa-trust", action="append", metavar="CA.pem", help="trust anchors of the TSA (default: the --trust ones)")
    s.add_argument("--seal-cert", action="append", metavar="SEAL.pem",
                   help="the archive's seal certificate(s), pinned (default $EARCHIVE_SEAL_CERTS; else the development seal policy)")
    s.add_argument("--seal-policy", action="append", metavar="OID", help="a certificate policy every seal certificate carries")


def _check_options(args: argparse.Namespace):
    from .check import CheckOptions
    from .check.virus import make_scanner
    from .domain.formats import DEFAULT_ALLOWED

    options = CheckOptions(stage=args.stage, scanner=make_scanner(args.scanner), seal_identity=_seal_identity(args))
    if args.trust:
        options.trust = [c for t in args.trust for c in _anchors(t)]
        options.trust_label = list(args.trust)
    if args.tsa_trust:
        options.tsa_trust = [c for t in args.tsa_trust for c in _anchors(t)]
        options.tsa_trust_label = list(args.tsa_trust)
    if args.package_digest:
        algorithm, _, value = args.package_digest.partition(":")
        algorithm = algorithm.upper().replace("SHA256", "SHA-256")
        if algorithm not in ("SM3", "SHA-256") or len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise UsageError(f"--package-digest {args.package_digest!r}: expected SM3:<64 hex digits> or SHA-256:<64 hex digits>")
        options.expected_digest = (algorithm, value.lower())
    options.allowed_formats = tuple(args.allowed_formats.split(",")) if args.allowed_formats else DEFAULT_ALLOWED
    return options


def _anchors(path: str) -> list:
    """The certificates of a trust file named on the command line; a missing or unreadable one is a wrong command line."""
    from .crypto.pki import load_trust_anchors

    try:
        certs = load_trust_anchors(path)
    except FileNotFoundError:
        raise UsageError(f"no such trust file: {path}") from None
    except ValueError:
        raise UsageError(f"{path} is not a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)") from None
    if not certs:
        raise UsageError(f"{path} holds no certificate")
    return certs


def cmd_verify(args: argparse.Namespace) -> int:
    """`earchive verify`: the DA/T 70 tests on a package; exit 1 when any test fails."""
    from .check import check_package
    from .check.report import to_json, write_html

    if not Path(args.package).is_file():
        raise UsageError(f"no such file: {args.package}")
    report = check_package(args.package, _check_options(args))
    if args.json:
        print(to_json(report))
    else:
        for r in report.results:
            mark = {"pass": "✓", "fail": "✗", "manual": "?", "not_applicable": "-"}[r.status]
            detail = r.detail if r.status != "pass" else r.detail[:90]
            print(f"{mark} {r.id:<9} {r.status:<15} {r.name}  {detail}".rstrip())
        failed = len(report.failures)
        print(f"{'PASSED' if report.passed else f'FAILED ({failed} test(s))'}: {report.package} [{report.stage}]")
    if args.html is not None:
        target = write_html(report, Path(args.html) if args.html else None)
        print(f"report: {target}", file=sys.stderr)
    return 0 if report.passed else 1


def _signed_json(what: str, body: bytes, signature: bytes, anchors: list, tsa_anchors: list, identity=None) -> bool:
    """One line for a signed JSON of the batch: its signer, its signature timestamp in Beijing time, or why not (True: it holds).

    The signer's certificate is checked at the timestamp's time (CAdES-T), so the time printed is a TSA's, not the signer's claim.
    """
    from .crypto.cades import verify_timestamped
    from .zh import beijing

    found = verify_timestamped(signature, body, anchors, tsa_anchors)
    cert = found.check.signer_cert if found.check else None
    problems = found.problems + (identity.problems(cert) if identity is not None and cert is not None else [])
    when = f"; 签名时间戳 signature timestamp {beijing(found.gen_time)} 北京时间" if found.gen_time else ""
    subject = found.check.signer_subject if found.check else ""
    print(f"{'✗' if problems else '✓'} {what} signed by {subject or '?'}{when}" + (f": {'; '.join(problems)}" if problems else ""))
    return not problems


def cmd_verify_batch(args: argparse.Namespace) -> int:
    """An institution's offline check of a downloaded batch, trusting only its own anchors: the list, the reply once decided, the packages."""
    from .check import CheckOptions, check_package
    from .check.virus import make_scanner

    folder = Path(args.folder)
    anchors = [c for t in args.trust for c in _anchors(t)]
    failed = 0
    listing = folder / "transfer-list.json"
    signature = folder / "transfer-list.json.sender.p7s"
    if not listing.exists() or not signature.exists():
        print(f"✗ {folder}: transfer-list.json and its .sender.p7s are required", file=sys.stderr)
        return 1
    identity = _seal_identity(args)
    tsa_anchors = [c for t in (args.tsa_trust or []) for c in _anchors(t)] or None
    # The sender is pinned: the list must be signed by the archive's seal identity, not by anyone the CA certifies.
    failed += not _signed_json("transfer list", listing.read_bytes(), signature.read_bytes(), anchors, tsa_anchors or anchors, identity)
    receipt, receipt_signature = folder / "receipt.json", folder / "receipt.json.receiver.p7s"
    decided = receipt.exists() or receipt_signature.exists()
    if receipt.exists() != receipt_signature.exists():
        failed += 1
        print(f"✗ 回执不完整 / receipt.json and receipt.json.receiver.p7s come together: {folder} has one of them")
    elif decided:  # the institution's reply: by one of --receiver-cert (pinned) when given, else by a certificate --trust certifies
        pinned = [c for t in (args.receiver_cert or []) for c in _anchors(t)]
        failed += not _signed_json("reply (receipt.json)", receipt.read_bytes(), receipt_signature.read_bytes(), pinned or anchors,
                                   tsa_anchors or anchors)
    document = json.loads(listing.read_text("utf-8"))
    for p in document["packages"]:
        path = folder / "packages" / f"{p['record_code']}.zip"
        if not path.is_file():  # one line, not 35 identical "cannot check" results (P14)
            failed += 1
            print(f"✗ {p['record_code']}: 缺少信息包 missing: {path} is listed in the signed list but was not downloaded")
            continue
        options = CheckOptions(stage="receiving", trust=anchors, trust_label=list(args.trust), scanner=make_scanner(args.scanner),
                               expected_digest=(p["digest"]["algorithm"], p["digest"]["value"]), seal_identity=identity,
                               tsa_trust=tsa_anchors, tsa_trust_label=list(args.tsa_trust or []))
        report = check_package(path, options)
        failed += not report.passed
        detail = "; ".join(f"{r.id} {r.detail[:80]}" for r in report.failures)
        print(f"{'✓' if report.passed else '✗'} {p['record_code']}" + (f": {detail}" if detail else ""))
    total = len(document["packages"]) + 1 + decided
    print(f"{total - failed}/{total} verified: batch {document['batch_id']}")
    return 0 if not failed else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """`earchive demo`: the main job on the local cloud (or `--offline`: pack and verify only)."""
    from earchive_devtools.demo import run_demo, run_offline_demo

    if args.offline:
        return run_offline_demo(Path(args.out or "out/demo-offline"), cases=args.cases)
    return run_demo(Path(args.out or "out/demo"), cases=args.cases, guomi=args.guomi)


def cmd_tsa(args: argparse.Namespace) -> int:
    """`earchive tsa serve`: the development RFC 3161 TSA over HTTP on loopback."""
    from .crypto.signers import make_tsa
    from .crypto.timestamp import serve

    tsa = make_tsa("local-sm2" if args.sm2 else "local")
    server = serve(tsa, args.host, args.port)  # type: ignore[arg-type]
    print(f"{tsa.description} on http://{args.host}:{server.server_address[1]}/ (Ctrl-C to stop)", file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


def cmd_dev_ca(args: argparse.Namespace) -> int:
    """`earchive dev-ca`: the development roots, ECDSA and SM2, in one PEM file (what `verify` trusts by default)."""
    from .crypto.signers import default_trust_path

    print(default_trust_path())
    return 0


def _server(parser: argparse.ArgumentParser, port: int, func) -> None:
    """A command that serves on loopback by default."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    """Every command and option of `earchive`."""
    p = argparse.ArgumentParser(prog="earchive", description="政务服务电子档案归档 — archive government-service e-records")
    p.add_argument("--version", action="version", version=f"earchive {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample-case", help="write a realistic case bundle (folder; --zip for a zip)")
    s.add_argument("out_dir")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--files", type=int, default=5, help="number of materials (at least 3)")
    s.add_argument("--size-mb", type=float, default=0.0, help="make the materials about this big in total")
    s.add_argument("--defect", choices=["digest", "truncated", "empty", "undeclared", "missing-metadata", "eicar", "bad-pdf", "gbk-names"],
                   help="break one thing on purpose")
    s.add_argument("--zip", action="store_true", help="also zip the bundle and print the zip's path")
    s.add_argument("--progress", action="store_true", help="show progress of a large case even when stderr is not a terminal")
    s.add_argument("--remarks", help="备注 written into case.json (how the walk-through corrects a returned case)")
    s.set_defaults(func=cmd_sample_case)

    s = sub.add_parser("pack", help="collect, organise, pack and seal one case into <电子文件号>.zip")
    s.add_argument("case", help="case bundle: a folder or a zip with case.json")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--serial", type=int, help="archive serial (default: case.json archive_serial or a local counter)")
    s.add_argument("--signer", help="local-ec (default), local-rsa, local-sm2, kms:KEY_ID, file:KEY.pem,CERT.pem")
    s.add_argument("--tsa", help="local (default), local-sm2 or an http(s) RFC 3161 URL")
    s.add_argument("--crypto-profile", choices=["standard", "guomi"],
                   help="guomi: 国密 throughout (SM2 seal over the SM3 manifest, SM2 TSA, SM3 imprint); default $EARCHIVE_CRYPTO_PROFILE")
    s.add_argument("--force", action="store_true", help="replace a package of the same name")
    s.add_argument("--json", action="store_true", help="print the pack result as one JSON document (instead of the path)")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress on stderr")
    s.set_defaults(func=cmd_pack)

    s = sub.add_parser("verify", help="four-property check (四性检测) of a package")
    s.add_argument("package")
    s.add_argument("--stage", choices=["archiving", "receiving"], default="archiving")
    s.add_argument("--trust", action="append", metavar="CA.pem", help="trust anchors (default: the local development roots, ECDSA and SM2: `earchive dev-ca`)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--html", nargs="?", const="", default=None, metavar="PATH",
                   help="write an HTML report (default: beside the package)")
    s.add_argument("--package-digest", metavar="ALG:HEX", help="the sender's digest of the package, e.g. SM3:ab12…")
    s.add_argument("--scanner", help="builtin (default), builtin:DB.ndb, clamav, clamav:DB, none")
    s.add_argument("--allowed-formats", help="comma-separated extensions (default ofd,pdf,jpg,jpeg,png,tif,tiff,xml)")
    _identity_options(s)
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("verify-batch", help="verify a downloaded transfer batch offline: list signature, then YJ tests on every package")
    s.add_argument("folder", help="the batch folder (transfer-list.json, its .sender.p7s, packages/)")
    s.add_argument("--trust", action="append", required=True, metavar="CA.pem", help="the institution's own trust anchors")
    s.add_argument("--scanner", help="builtin (default), clamav, none")
    s.add_argument("--receiver-cert", action="append", metavar="CERT.pem",
                   help="the receiving institution's reply certificate, pinned: receipt.json must be signed by it (default: by any --trust certifies)")
    _identity_options(s)
    s.set_defaults(func=cmd_verify_batch)

    s = sub.add_parser("demo", help="the main job on the local default: a dozen cases through the serverless pipeline on moto")
    s.add_argument("--out", help="where to leave cases, packages, reports and the catalogue export (cleaned first; "
                                 "default out/demo, out/demo-offline with --offline)")
    s.add_argument("--cases", type=int, default=12)
    s.add_argument("--offline", action="store_true", help="pack → verify round trip without the cloud")
    s.add_argument("--guomi", action="store_true", help="a 国密 stack in China mode: SM2 seal, SM2 TSA, SM2 institutions (ADR 0020)")
    s.set_defaults(func=cmd_demo)

    add_local_parsers(sub)

    s = sub.add_parser("status", help="cases in the catalogue and their state (local cloud, or --table on AWS)")
    s.add_argument("--table", help="the catalogue table on AWS (default: the running local cloud)")
    s.add_argument("--endpoint", help="endpoint URL for --table")
    s.add_argument("--config-table", help="the 归档配置 table on AWS (ArchivingConfigTableName), to say how cases are checked")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("tsa", help="development RFC 3161 TSA")
    tsa_sub = s.add_subparsers(dest="tsa_command", required=True)
    serve_parser = tsa_sub.add_parser("serve", help="serve the development TSA over HTTP")
    serve_parser.add_argument("--sm2", action="store_true", help="an SM2 TSA (SM3withSM2, GB/T 20520) of the 国密 development PKI")
    _server(serve_parser, 3161, cmd_tsa)

    add_transfer_parser(sub)

    add_admin_parsers(sub)
    add_institution_parser(sub)
    add_config_parser(sub)
    add_receive_parser(sub)
    add_users_parser(sub)
    add_console_parser(sub)

    s = sub.add_parser("dev-ca", help="print the path of the development CA certificates (ECDSA and SM2 roots)")
    s.set_defaults(func=cmd_dev_ca)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code says how it ended (0 done, 1 rejected or failed, 2 a wrong command line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (TransferError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except EarchiveError as exc:
        print("rejected / 拒收:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        if current().errors_json:
            print(json.dumps([p.as_dict() for p in exc.problems], ensure_ascii=False))
        return 1
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "earchive_devtools":
            raise
        print("error: this command needs earchive's development tools (local cloud, demo, sample cases): "
              "pip install -e devtools (make install does)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an AWS situation (no credentials, no region, nothing listening) is one line, not a traceback
        from .aws.clients import aws_problem

        said = aws_problem(exc)
        if said is None:
            if isinstance(exc, (OSError, ValueError)):
                print(f"error: {exc}", file=sys.stderr)
                return 1
            raise
        print(f"error: {said}", file=sys.stderr)
        return 1
