// Bouncy Castle as an outside verifier of earchive's CMS (issues 21 and 23). Exit 0 verified, 1 refused (the reason on stderr),
// 2 on a wrong command line.
// Usage: java -cp <bcprov:bcpkix:bcutil:.> BcVerify SIGNATURE.p7s CONTENT CA.pem
//            the detached SignedData verifies over CONTENT, its signer's certificate issued directly by CA (issue 21)
//        ... BcVerify chain SIGNATURE.p7s CONTENT ROOT.pem
//            the same, and the whole path from the signer through the intermediates the SignedData carries up to ROOT:
//            each link's signature (SM3withSM2, ECDSA or RSA, by the BC provider), each issuer a CA (basic constraints, path
//            length, keyCertSign), each certificate valid at the signing time (issue 23)
//        ... BcVerify ts RESPONSE.tsr DATA ROOT.pem
//            the RFC 3161 response (or bare token) is granted, its token validates (TimeStampToken.validate: signature, ESS
//            certificate id, critical timeStamping purpose, validity at genTime), its imprint is DATA's digest recomputed with
//            the token's own hash algorithm (SM3 by BC's SM3Digest), and the TSA's certificate chains to ROOT (issue 23)
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Security;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.CMSAttributes;
import org.bouncycastle.asn1.cms.Time;
import org.bouncycastle.asn1.gm.GMObjectIdentifiers;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.crypto.Digest;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.digests.SHA384Digest;
import org.bouncycastle.crypto.digests.SHA512Digest;
import org.bouncycastle.crypto.digests.SM3Digest;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.tsp.TimeStampResponse;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.util.Selector;
import org.bouncycastle.util.Store;

public class BcVerify {
    static final JcaX509CertificateConverter CONV = new JcaX509CertificateConverter().setProvider("BC");

    public static void main(String[] args) throws Exception {
        boolean mode = args.length == 4 && (args[0].equals("chain") || args[0].equals("ts"));
        if (args.length != 3 && !mode) {
            System.err.println("usage: BcVerify SIGNATURE CONTENT CA.pem | chain SIGNATURE CONTENT ROOT.pem | ts RESPONSE.tsr DATA ROOT.pem");
            System.exit(2);
        }
        Security.addProvider(new BouncyCastleProvider());
        try {
            if (args.length == 3) direct(args[0], args[1], args[2]);
            else if (args[0].equals("chain")) chain(args[1], args[2], args[3]);
            else timestamp(args[1], args[2], args[3]);
            System.out.println("verified");
            System.exit(0);
        } catch (Exception e) {
            System.err.println("refused: " + e);
            System.exit(1);
        }
    }

    /** Issue 21's form: the signature, with the signer's certificate issued directly by the CA. */
    static void direct(String sig, String content, String caPem) throws Exception {
        CMSSignedData sd = load(sig, content);
        X509Certificate ca = readCert(caPem);
        SignerInformation si = onlySigner(sd);
        X509Certificate leaf = signerCert(sd.getCertificates(), si);
        leaf.verify(ca.getPublicKey());
        if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(leaf))) throw new Exception("signature does not verify");
    }

    static void chain(String sig, String content, String rootPem) throws Exception {
        CMSSignedData sd = load(sig, content);
        SignerInformation si = onlySigner(sd);
        X509Certificate leaf = signerCert(sd.getCertificates(), si);
        if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(leaf))) throw new Exception("signature does not verify");
        Date at = new Date();
        if (si.getSignedAttributes() != null) {
            Attribute st = si.getSignedAttributes().get(CMSAttributes.signingTime);
            if (st != null) at = Time.getInstance(st.getAttrValues().getObjectAt(0)).getDate();
        }
        verifyPath(leaf, certs(sd.getCertificates()), readCert(rootPem), at);
        System.out.println("signer " + leaf.getSubjectX500Principal() + " " + si.getEncryptionAlgOID() + "/" + si.getDigestAlgOID());
    }

    static void timestamp(String tsr, String data, String rootPem) throws Exception {
        byte[] der = Files.readAllBytes(Paths.get(tsr));
        TimeStampToken token;
        try {
            TimeStampResponse resp = new TimeStampResponse(der);
            if (resp.getStatus() > 1) throw new Exception("the TSA did not grant: status " + resp.getStatus() + " " + resp.getStatusString());
            token = resp.getTimeStampToken();
        } catch (org.bouncycastle.tsp.TSPException | java.io.IOException | IllegalArgumentException notAResponse) {
            token = new TimeStampToken(new CMSSignedData(der));
        }
        if (token == null) throw new Exception("no token in the response");
        X509Certificate tsa = signerCert(token.getCertificates(), token.getSID());
        token.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(tsa));
        ASN1ObjectIdentifier alg = token.getTimeStampInfo().getMessageImprintAlgOID();
        Digest d = alg.equals(GMObjectIdentifiers.sm3) ? new SM3Digest()
                : alg.equals(NISTObjectIdentifiers.id_sha256) ? new SHA256Digest()
                : alg.equals(NISTObjectIdentifiers.id_sha384) ? new SHA384Digest()
                : alg.equals(NISTObjectIdentifiers.id_sha512) ? new SHA512Digest() : null;
        if (d == null) throw new Exception("imprint algorithm " + alg + " not accepted");
        byte[] bytes = Files.readAllBytes(Paths.get(data));
        byte[] ours = new byte[d.getDigestSize()];
        d.update(bytes, 0, bytes.length);
        d.doFinal(ours, 0);
        if (!Arrays.equals(ours, token.getTimeStampInfo().getMessageImprintDigest())) throw new Exception("the imprint is not DATA's " + alg + " digest");
        Date at = token.getTimeStampInfo().getGenTime();
        verifyPath(tsa, certs(token.getCertificates()), readCert(rootPem), at);
        System.out.println("tsa " + tsa.getSubjectX500Principal() + " imprint " + alg + " signed " + token.getSignedAttributes().size()
                           + " attributes, " + token.toCMSSignedData().getSignerInfos().getSigners().iterator().next().getEncryptionAlgOID()
                           + " at " + at.toInstant());
    }

    /** The path from ``leaf`` through ``pool`` to ``root``: each link verified with its issuer's key by BC, each issuer a CA. */
    static void verifyPath(X509Certificate leaf, Collection<X509Certificate> pool, X509Certificate root, Date at) throws Exception {
        root.verify(root.getPublicKey(), "BC");  // the root's own (self-)signature too: an SM2 root signs with the default ID
        X509Certificate cert = leaf;
        int casBelow = 0;
        for (int depth = 0; depth < 8; depth++) {
            cert.checkValidity(at);
            if (cert.equals(root)) return;
            X509Certificate issuer = null;
            List<X509Certificate> candidates = new ArrayList<>();
            candidates.add(root);
            candidates.addAll(pool);
            for (X509Certificate c : candidates) {
                if (c.equals(cert) || !c.getSubjectX500Principal().equals(cert.getIssuerX500Principal())) continue;
                try {
                    cert.verify(c.getPublicKey(), "BC");
                    issuer = c;
                    break;
                } catch (java.security.GeneralSecurityException wrongKey) {
                    // another certificate of the same name: try the next
                }
            }
            if (issuer == null) throw new Exception("no issuer of " + cert.getSubjectX500Principal() + " verifies its signature (untrusted chain)");
            if (cert != leaf) casBelow++;
            int pathLen = issuer.getBasicConstraints();
            if (pathLen < 0) throw new Exception("issuer " + issuer.getSubjectX500Principal() + " is not a CA");
            if (casBelow > pathLen) throw new Exception("issuer " + issuer.getSubjectX500Principal() + " allows " + pathLen + " CA(s) below it");
            boolean[] ku = issuer.getKeyUsage();
            if (ku != null && !ku[5]) throw new Exception("issuer " + issuer.getSubjectX500Principal() + " may not sign certificates");
            cert = issuer;
        }
        throw new Exception("certificate chain too long");
    }

    static CMSSignedData load(String sig, String content) throws Exception {
        return new CMSSignedData(new CMSProcessableByteArray(Files.readAllBytes(Paths.get(content))), Files.readAllBytes(Paths.get(sig)));
    }

    static SignerInformation onlySigner(CMSSignedData sd) throws Exception {
        if (sd.getSignerInfos().size() != 1) throw new Exception("expected one signer");
        return sd.getSignerInfos().getSigners().iterator().next();
    }

    static X509Certificate signerCert(Store<X509CertificateHolder> store, SignerInformation si) throws Exception {
        return signerCert(store, si.getSID());
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static X509Certificate signerCert(Store<X509CertificateHolder> store, Selector sid) throws Exception {
        Collection<X509CertificateHolder> found = store.getMatches(sid);
        if (found.isEmpty()) throw new Exception("signer certificate not included");
        return CONV.getCertificate(found.iterator().next());
    }

    static List<X509Certificate> certs(Store<X509CertificateHolder> store) throws Exception {
        List<X509Certificate> out = new ArrayList<>();
        for (X509CertificateHolder h : store.getMatches(null)) out.add(CONV.getCertificate(h));
        return out;
    }

    static X509Certificate readCert(String pemPath) throws Exception {
        try (PEMParser pem = new PEMParser(new FileReader(pemPath))) { return CONV.getCertificate((X509CertificateHolder) pem.readObject()); }
    }
}
