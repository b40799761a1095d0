// Bouncy Castle as an outside SIGNER (issue 23, item 6): a detached CMS SignedData over CONTENT, SM3withSM2 with the default
// distinguishing ID (GM/T 0009), signed attributes exactly contentType, signingTime and messageDigest (SM3), the leaf and every
// certificate of CHAIN.pem included. earchive then verifies what it did not make. The key may be PKCS#8 ("PRIVATE KEY", as
// `openssl genpkey -algorithm SM2` writes it) or SEC1 ("EC PRIVATE KEY" / "SM2 PRIVATE KEY", as `openssl ec` writes it).
// Exit 0 written, 1 failed (the reason on stderr), 2 on a wrong command line.
// Usage: java -cp <bcprov:bcpkix:bcutil:.> Sm2Sign KEY.pem LEAF.pem CHAIN.pem CONTENT OUT.p7s
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.PrivateKey;
import java.security.Security;
import java.util.ArrayList;
import java.util.Date;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.CMSAttributes;
import org.bouncycastle.asn1.cms.Time;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSAttributeTableGenerator;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public class Sm2Sign {
    public static void main(String[] args) throws Exception {
        if (args.length != 5) { System.err.println("usage: Sm2Sign KEY.pem LEAF.pem CHAIN.pem CONTENT OUT.p7s"); System.exit(2); }
        Security.addProvider(new BouncyCastleProvider());
        try {
            PrivateKey key = readKey(args[0]);
            List<X509CertificateHolder> leaf = readCerts(args[1]);
            List<X509CertificateHolder> certs = new ArrayList<>(leaf.subList(0, 1));
            certs.addAll(readCerts(args[2]));
            byte[] content = Files.readAllBytes(Paths.get(args[3]));

            ContentSigner signer = new JcaContentSignerBuilder("SM3withSM2").setProvider("BC").build(key);
            CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
            gen.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(
                    new JcaDigestCalculatorProviderBuilder().setProvider("BC").build())
                    .setSignedAttributeGenerator(new ThreeAttributes())
                    .build(signer, certs.get(0)));
            gen.addCertificates(new JcaCertStore(certs));
            CMSSignedData sd = gen.generate(new CMSProcessableByteArray(content), false);
            Files.write(Paths.get(args[4]), sd.getEncoded(ASN1Encoding.DER));
            System.out.println("signed " + sd.getSignerInfos().getSigners().iterator().next().getEncryptionAlgOID());
            System.exit(0);
        } catch (Exception e) {
            System.err.println("failed: " + e);
            System.exit(1);
        }
    }

    /** contentType, signingTime and messageDigest only (Bouncy Castle's default adds CMSAlgorithmProtection too). */
    static final class ThreeAttributes implements CMSAttributeTableGenerator {
        @Override
        @SuppressWarnings("rawtypes")
        public AttributeTable getAttributes(Map params) {
            Hashtable<ASN1ObjectIdentifier, Attribute> t = new Hashtable<>();
            t.put(CMSAttributes.contentType, new Attribute(CMSAttributes.contentType,
                    new DERSet((ASN1ObjectIdentifier) params.get(CMSAttributeTableGenerator.CONTENT_TYPE))));
            t.put(CMSAttributes.signingTime, new Attribute(CMSAttributes.signingTime, new DERSet(new Time(new Date()))));
            t.put(CMSAttributes.messageDigest, new Attribute(CMSAttributes.messageDigest,
                    new DERSet(new DEROctetString((byte[]) params.get(CMSAttributeTableGenerator.DIGEST)))));
            return new AttributeTable(t);
        }
    }

    static PrivateKey readKey(String path) throws Exception {
        // BC's PEMParser reads "EC PRIVATE KEY"; OpenSSL writes an SM2 key's SEC1 form as "SM2 PRIVATE KEY" (same DER).
        String pem = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.US_ASCII).replace("SM2 PRIVATE KEY", "EC PRIVATE KEY");
        Object o;
        try (PEMParser p = new PEMParser(new StringReader(pem))) { o = p.readObject(); }
        JcaPEMKeyConverter conv = new JcaPEMKeyConverter().setProvider("BC");
        if (o instanceof PEMKeyPair) return conv.getKeyPair((PEMKeyPair) o).getPrivate();
        if (o instanceof PrivateKeyInfo) return conv.getPrivateKey((PrivateKeyInfo) o);
        throw new Exception("not a private key: " + (o == null ? "nothing" : o.getClass().getSimpleName()));
    }

    static List<X509CertificateHolder> readCerts(String path) throws Exception {
        List<X509CertificateHolder> out = new ArrayList<>();
        try (PEMParser p = new PEMParser(Files.newBufferedReader(Paths.get(path), StandardCharsets.US_ASCII))) {
            for (Object o = p.readObject(); o != null; o = p.readObject()) {
                if (o instanceof X509CertificateHolder) out.add((X509CertificateHolder) o);
            }
        }
        if (out.isEmpty()) throw new Exception("no certificate in " + path);
        return out;
    }
}
