"""The receiving institution's side (政务服务实施机构), on its own machine: init, pull, check, reply.

Nothing here uses the window's keys or anchors. The institution keeps its own key and certificate
under ``$EARCHIVE_HOME/receive/<code>/`` (made here for trying it out, or imported from its CA),
pulls a batch from its prefix of the transfer bucket, verifies the sender (pinned) and every
package's SM3 against the signed list while downloading, runs the 接收检测 (YJ tests) with its own
anchors, and signs its reply (CMS) with its own key. The window verifies that reply
(:mod:`earchive.domain.reply`) before anything changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from .config import earchive_home
from .domain import strict_json
from .errors import TransferError, UsageError


@dataclass
class Desk:
    """One institution's working folder on its own machine."""

    code: str
    root: Path | None = None

    @property
    def folder(self) -> Path:
        return self.root or earchive_home() / "receive" / self.code

    @property
    def key_path(self) -> Path:
        return self.folder / "reply-signer.key.pem"

    @property
    def cert_path(self) -> Path:
        return self.folder / "reply-signer.pem"

    def batch(self, batch_id: str) -> Path:
        return self.folder / "batches" / batch_id

    # -- init
    def init(self, name: str | None = None, *, key: Path | None = None, cert: Path | None = None, sm2: bool = False,
             chain: Path | None = None, csr: Path | None = None) -> Path:
        """Make a key (ECDSA P-256, or SM2 with ``sm2``), a CSR for the institution's CA and a development certificate;
        import a key and its certificate; or (``cert`` alone) install the certificate the CA returned for the key made here.

        ``chain`` is the CA's chain, kept after the leaf in the certificate file (the reply's CMS carries it); ``csr``
        is where the request is written as well (it always stays beside the key as ``reply-signer.csr``).
        """
        from cryptography import x509

        from .crypto import institution_keys

        self.folder.mkdir(parents=True, exist_ok=True)
        if cert and not key:
            return self._install(cert, chain)
        if self.key_path.exists() and not key:
            raise TransferError(f"institution {self.code} has a key already at {self.key_path} (nothing was changed)")
        if key and cert:
            try:  # both must load, and belong together, before anything is written
                key_pem, certs = key.read_bytes(), self._certificates(cert, chain)
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot import the key and certificate: {exc}") from None
            problems = institution_keys.installation_problems(key_pem, certs)
            if problems:
                raise UsageError(f"cannot import the key and certificate: {'; '.join(problems)}")
            self._write(self.key_path, key_pem, 0o600)
            self._write(self.cert_path, b"".join(c.public_bytes(Encoding.PEM) for c in certs), 0o644)
            return self.cert_path
        if key or not (name or "").strip():
            raise UsageError("give --name to make a key, --key with --cert to import one, or --cert alone to install the CA's certificate")
        make = institution_keys.sm2_key_and_certificates if sm2 else institution_keys.ec_key_and_certificates
        key_pem, request, dev_cert = make(str(name).strip(), self.code)
        x509.load_pem_x509_certificate(dev_cert)  # what is written below is a certificate this software reads back
        self._write(self.key_path, key_pem, 0o600)
        self._write(self.folder / "reply-signer.csr", request, 0o644)
        if csr:
            self._write(csr, request, 0o644)
        self._write(self.cert_path, dev_cert, 0o644)
        return self.cert_path

    def _certificates(self, cert: Path, chain: Path | None) -> list[Any]:
        """The leaf (first in ``cert``) and its CA chain (the rest of ``cert``, then ``chain``), without duplicates."""
        from cryptography import x509

        found = x509.load_pem_x509_certificates(cert.read_bytes()) + (x509.load_pem_x509_certificates(chain.read_bytes()) if chain else [])
        out: list[Any] = []
        for c in found:
            if all(c != o for o in out):
                out.append(c)
        return out

    def _install(self, cert: Path, chain: Path | None) -> Path:
        """The certificate the institution's CA issued for the key made here (and its chain): checked against the key, then kept."""
        if not self.key_path.exists():
            raise UsageError(f"institution {self.code} has no key on this machine: `earchive receive init --institution {self.code} --name …`")
        from .crypto.institution_keys import installation_problems

        try:
            certs = self._certificates(cert, chain)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the certificate: {exc}") from None
        problems = installation_problems(self.key_path.read_bytes(), certs)
        if problems:
            raise UsageError(f"证书未安装 / the certificate was not installed: {'; '.join(problems)}")
        if self.cert_path.exists():  # the development certificate it replaces stays beside it
            self._write(self.folder / "reply-signer.previous.pem", self.cert_path.read_bytes(), 0o644)
        self._write(self.cert_path, b"".join(c.public_bytes(Encoding.PEM) for c in certs), 0o644)
        return self.cert_path

    @staticmethod
    def _write(path: Path, data: bytes, mode: int) -> None:
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(path)

    def signer(self) -> Any:
        from .crypto.signers import make_signer

        if not self.key_path.exists():
            raise UsageError(f"institution {self.code} has no key on this machine: `earchive receive init --institution {self.code}`")
        return make_signer(f"file:{self.key_path},{self.cert_path}")  # ECDSA, RSA or SM2 (PKCS#8 or SEC1)

    # -- pull
    def pull(self, s3: Any, bucket: str, batch_id: str, *, trust: list[Any], seal_identity: Any, progress: Any = None) -> dict[str, Any]:
        """Download the batch (resuming), verifying the sender's signature (pinned) and each package's SM3 while it comes."""

        base, out = f"institutions/{self.code}/batches/{batch_id}/", self.batch(batch_id)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("transfer-list.json", "transfer-list.json.sender.p7s"):
            body = s3.get_bytes(bucket, base + name)
            if body is None:
                raise UsageError(f"batch {batch_id} is not in institutions/{self.code}/ (submitted to another institution, or not yet)")
            (out / name).write_bytes(body)
        listing_bytes = (out / "transfer-list.json").read_bytes()
        from .crypto.cades import verify_timestamped

        list_signature = (out / "transfer-list.json.sender.p7s").read_bytes()
        found = verify_timestamped(list_signature, listing_bytes, trust, trust)  # the chain at the TSA's time, not the window's claim
        problems = found.problems + (seal_identity.problems(found.check.signer_cert) if found.check and found.check.signer_cert else [])
        if problems:
            raise TransferError(f"the list of batch {batch_id} is not signed by the archive: {'; '.join(problems)}")
        try:  # the signed bytes, one meaning (issue 21): canonical UTF-8, unique keys, bounded
            listing = strict_json.loads(listing_bytes, max_bytes=LIST_MAX_BYTES, what=f"the list of batch {batch_id}")
        except ValueError as exc:
            raise TransferError(str(exc)) from None
        self._pull_form(s3, bucket, base, out, trust, (out / "transfer-list.json.sender.p7s").read_bytes(), listing.get("printed_list_signer_sha256"))
        (out / "packages").mkdir(exist_ok=True)
        done = []
        for n, p in enumerate(listing["packages"], 1):
            target = out / "packages" / f"{p['record_code']}.zip"
            want = p["digest"]["value"]
            if target.exists() and _sm3_of(target) == want:  # resumed: already here and whole
                done.append(p["record_code"])
                continue
            part = target.with_suffix(".zip.part")
            _, digests = s3.download(bucket, p.get("key") or f"{base}packages/{p['record_code']}.zip", part)  # the list is signed before the copies
            if digests["SM3"] != want:
                part.unlink(missing_ok=True)
                raise TransferError(f"{p['record_code']}: SM3 {digests['SM3']} of the copy received is not the signed list's {want}")
            part.replace(target)
            done.append(p["record_code"])
            if progress:
                progress(n, len(listing["packages"]))
        self._pull_catalogue(s3, bucket, base, out, listing)
        (out / "pulled.json").write_text(json.dumps({"batch_id": batch_id, "packages": done, "list_sha256": hashlib.sha256(listing_bytes).hexdigest(),
                                                     "pulled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}, ensure_ascii=False), "utf-8")
        return listing

    def _pull_catalogue(self, s3: Any, bucket: str, base: str, out: Path, listing: dict[str, Any]) -> None:
        """The 归档目录清单 that travels with the packages (seed §6.8): its CSV and XLSX state, for exactly the packages of the
        signed list, the same 字节数, SM3 摘要 and 件数 as the list's signed rows — and so as the packages received (their SM3
        was checked on the way). Compared field by field, so a window and a desk of different versions still agree."""
        batch_id = listing["batch_id"]
        name = f"归档目录清单-{batch_id}.csv"
        body = s3.get_bytes(bucket, base + name)
        if body is None:
            if any(p.get("archived_at") or p.get("retention_period") for p in listing["packages"]):  # the signed list promises it
                raise TransferError(f"批次 {batch_id} 缺少归档目录清单（{name}）/ the 归档目录清单 did not travel with the packages")
            return
        try:
            problems = catalogue_problems(listing, _csv_rows(body))
            xlsx = s3.get_bytes(bucket, base + name.replace(".csv", ".xlsx"))
            problems += [f"XLSX: {p}" for p in catalogue_problems(listing, _xlsx_rows(xlsx))] if xlsx is not None else []
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            problems = [f"unreadable: {exc}"]
        if problems:
            raise TransferError(f"批次 {batch_id} 的归档目录清单与签名的移交清单不一致 / the 归档目录清单 differs from the signed list: "
                                + "; ".join(problems[:5]))
        (out / name).write_bytes(body)
        if xlsx is not None:
            (out / name.replace(".csv", ".xlsx")).write_bytes(xlsx)

    def _pull_form(self, s3: Any, bucket: str, base: str, out: Path, trust: list[Any], list_signature: bytes, pinned: str | None) -> None:
        """The printed list (PDF) the archive certified: intact, trusted, by the key the signed JSON list names (else the list's own signer)."""
        from asn1crypto import cms

        from .crypto.cms import verify_signed_data
        from .crypto.identity import fingerprint
        from .crypto.pdf_sign import certification_problems

        pdf = s3.get_bytes(bucket, base + "transfer-list.pdf")
        if pdf is None:  # a batch submitted before the printed list was signed: the JSON list alone binds
            return
        if not pinned:
            signer = verify_signed_data(cms.ContentInfo.load(list_signature), trust).signer_cert
            pinned = fingerprint(signer) if signer else None
        problems = certification_problems(pdf, trust, pinned)
        if problems:
            raise TransferError(f"the printed list of batch {base.rstrip('/').rsplit('/', 1)[-1]} is not the archive's: {'; '.join(problems)}")
        (out / "transfer-list.pdf").write_bytes(pdf)

    # -- check
    def check(self, batch_id: str, options: Any) -> dict[str, dict[str, Any]]:
        """The 接收检测: the YJ tests on every package with the institution's own anchors; time and result of each kept."""
        from dataclasses import replace

        from .check import check_package
        from .check.report import to_json, write_html
        from .domain.reply import check_of

        out = self.batch(batch_id)
        listing = json.loads((out / "transfer-list.json").read_text("utf-8"))
        checks = {}
        for p in listing["packages"]:
            path = out / "packages" / f"{p['record_code']}.zip"
            if not path.exists():
                raise UsageError(f"{p['record_code']} is not pulled yet: `earchive receive pull {batch_id}`")
            report = check_package(path, replace(options, stage="receiving", expected_digest=(p["digest"]["algorithm"], p["digest"]["value"])))
            (out / "packages" / f"{p['record_code']}.receiving.json").write_text(to_json(report), "utf-8")
            write_html(report)
            checks[p["record_code"]] = check_of(report.as_dict())
        (out / "checks.json").write_text(json.dumps(checks, ensure_ascii=False, indent=2), "utf-8")
        return checks

    # -- reply
    def reply(self, batch_id: str, *, receiver: str, returns: dict[str, str], tsa: Any = None) -> tuple[dict[str, Any], bytes, bytes]:
        """The signed reply (document, its bytes, the CMS signature), kept beside the batch.

        When the archive certified a printed list, the institution's approval signature goes on it first (its own
        key, ``tsa`` its own timestamp authority: default the development one), and the reply names both PDFs' SHA-256.
        With an SM2 key there is no PDF signature (pyHanko has no SM2): the reply says ``"approval": "sm2-reply"`` and
        names the certified list's SHA-256 and SM3 and its own certificate (ADR 0012, "SM2-only institutions").
        The reply's CMS signature carries a signature timestamp from the same TSA (CAdES-T): the window requires it.
        """
        from .crypto.cades import add_signature_timestamp
        from .crypto.cms import signed_data
        from .crypto.signers import make_tsa
        from .domain import reply as replies

        out = self.batch(batch_id)
        if not (out / "checks.json").exists():
            raise UsageError(f"batch {batch_id} is not checked yet: `earchive receive check {batch_id}`")
        listing_bytes = (out / "transfer-list.json").read_bytes()
        checks = json.loads((out / "checks.json").read_text("utf-8"))
        document = replies.draft(json.loads(listing_bytes), hashlib.sha256(listing_bytes).hexdigest(), receiver=receiver, checks=checks,
                                 returns=returns)
        signer, tsa = self.signer(), tsa or make_tsa("local")
        if (out / "transfer-list.pdf").exists() and signer.signature_algorithm == "sm2_sm3":
            # pyHanko makes no SM2 PDF signature: the SM2-signed reply itself approves the certified list, naming its digests
            document = replies.sm2_approval(document, (out / "transfer-list.pdf").read_bytes(), signer.certificate)
        elif (out / "transfer-list.pdf").exists():
            from .crypto.pdf_sign import approve

            certified = (out / "transfer-list.pdf").read_bytes()
            signed_pdf = approve(certified, signer, tsa, note=replies.approval_note(document),
                                 values=replies.printed_answers(json.loads(listing_bytes), document, certified))
            (out / f"reply-{document['reply_id']}.pdf").write_bytes(signed_pdf)
            document["list_pdf_sha256"] = hashlib.sha256(certified).hexdigest()
            document["signed_pdf_sha256"] = hashlib.sha256(signed_pdf).hexdigest()
        body = replies.encode(document)
        signature = add_signature_timestamp(signed_data(signer, content=body).dump(), tsa)
        (out / f"reply-{document['reply_id']}.json").write_bytes(body)
        (out / f"reply-{document['reply_id']}.json.p7s").write_bytes(signature)
        return document, body, signature

    def send(self, s3: Any, bucket: str, batch_id: str, document: dict[str, Any], body: bytes, signature: bytes) -> str:
        """Upload a signed reply: its signed PDF and its signature first, the JSON last (its arrival starts the window's verification)."""
        key = self.reply_key(batch_id, document["reply_id"])
        if "signed_pdf_sha256" in document:
            s3.put(bucket, key[:-5] + ".pdf", (self.batch(batch_id) / f"reply-{document['reply_id']}.pdf").read_bytes(), "application/pdf")
        s3.put(bucket, key + ".p7s", signature, "application/pkcs7-signature")
        s3.put(bucket, key, body, "application/json")
        return key

    # -- what became of it (issue 20 item 8): from the institution's own prefix, which is all it may read
    def decision(self, s3: Any, bucket: str, batch_id: str) -> dict[str, Any] | None:
        """The batch's decision as ``receipt.json`` records it (None while none is taken), kept in the batch's folder too."""
        from .domain.decided import from_receipt

        body = s3.get_bytes(bucket, f"institutions/{self.code}/batches/{batch_id}/receipt.json")
        if body is None:
            return None
        folder = self.batch(batch_id)
        if folder.is_dir():
            (folder / "receipt.json").write_bytes(body)
        return from_receipt(json.loads(body))

    def status(self, s3: Any, bucket: str, batch_id: str) -> dict[str, Any]:
        """The decision (or none yet), each reply this institution sent (from the bucket and this PC) and any refusal with its reason."""
        from .domain.decided import refusal

        prefix = f"institutions/{self.code}/replies/{batch_id}/"
        keys = s3.keys(bucket, prefix)
        refused = {k[:-len(".refused.json")] + ".json": refusal(json.loads(s3.get_bytes(bucket, k) or b"{}"))
                   for k in keys if k.endswith(".refused.json")}
        sent = sorted({k for k in keys if k.endswith(".json") and not k.endswith(".refused.json")}
                      | {self.reply_key(batch_id, p.name[len("reply-"):-len(".json")]) for p in self.batch(batch_id).glob("reply-*.json")})
        replies = [{"key": k, "reply_id": k.rsplit("/", 1)[-1][:-5], "in_bucket": k in keys, "refused": refused.get(k)} for k in sent]
        return {"batch_id": batch_id, "institution": self.code, "decision": self.decision(s3, bucket, batch_id), "replies": replies}

    def refuse_if_decided(self, s3: Any, bucket: str, batch_id: str) -> None:
        """Before anything is signed: a batch already decided takes no further reply (the window would refuse it, N9)."""
        from .domain.decided import already_decided

        decision = self.decision(s3, bucket, batch_id)
        if decision is not None:
            raise TransferError(already_decided(batch_id, decision))

    def reply_key(self, batch_id: str, reply_id: str) -> str:
        """Where the reply goes: the institution's own prefix (``institutions/<code>/replies/<batch>/``)."""
        from .domain.reply import key

        return key(self.code, batch_id, reply_id)


CATALOGUE_CHECKED = (("字节数", "size"), ("SM3 摘要", "sm3"), ("件数", "total_number"))


def catalogue_problems(listing: dict[str, Any], rows: list[dict[str, str]]) -> list[str]:
    """Why the 归档目录清单 rows are not the signed list's packages (empty: they are), by 电子文件号 and column."""
    listed = {p["record_code"]: {"size": str(p.get("size", "")), "sm3": (p.get("digest") or {}).get("value", ""),
                                 "total_number": str(p.get("total_number", ""))} for p in listing["packages"]}
    shown = {r.get("电子文件号", ""): r for r in rows}
    out = [f"{c} is listed but not in the 归档目录清单" for c in sorted(set(listed) - set(shown))]
    out += [f"{c} is in the 归档目录清单 but not in the signed list" for c in sorted(set(shown) - set(listed))]
    for code in sorted(set(listed) & set(shown)):
        out += [f"{code} {column}: {shown[code].get(column)!r}, the signed list says {listed[code][key]!r}"
                for column, key in CATALOGUE_CHECKED if column in shown[code] and str(shown[code][column]) != listed[code][key]]
    return out


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _xlsx_rows(body: bytes) -> list[dict[str, str]]:
    import io

    from openpyxl import load_workbook

    table = [[("" if v is None else str(v)) for v in row] for row in load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(values_only=True)]
    return [dict(zip(table[0], row)) for row in table[1:]] if table else []


LIST_MAX_BYTES = 256 * 1024**2  # a signed list of 100,000 packages is about 80 MB


def _sm3_of(path: Path) -> str:
    from .crypto.digests import digest_stream

    with open(path, "rb") as f:
        return digest_stream(f)[0]["SM3"]
