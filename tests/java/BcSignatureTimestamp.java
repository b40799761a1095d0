// Bouncy Castle as an outside verifier of a CAdES-T signature timestamp (issue 23 item 4): exit 0 when the SignerInfo's unsigned
// attribute id-aa-signatureTimeStampToken holds one TimeStampToken whose message imprint is the digest of the SignerInfo's
// signature value, signed by a TSA certificate (critical timeStamping key purpose, checked by BC's validate) that the CA given
// issued; 1 when not (the reason on stderr); 2 on a wrong command line. Prints the token's genTime.
// Usage: java -cp <bcprov:bcpkix:bcutil:.> BcSignatureTimestamp SIGNATURE.p7s CA.pem
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.Security;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collection;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.util.Selector;

public class BcSignatureTimestamp {
    static final ASN1ObjectIdentifier SIGNATURE_TIME_STAMP_TOKEN = new ASN1ObjectIdentifier("1.2.840.113549.1.9.16.2.14");

    public static void main(String[] args) throws Exception {
        if (args.length != 2) { System.err.println("usage: BcSignatureTimestamp SIGNATURE CA.pem"); System.exit(2); }
        Security.addProvider(new BouncyCastleProvider());
        try {
            CMSSignedData sd = new CMSSignedData(Files.readAllBytes(Paths.get(args[0])));
            if (sd.getSignerInfos().size() != 1) throw new Exception("expected one signer");
            SignerInformation si = sd.getSignerInfos().getSigners().iterator().next();
            AttributeTable unsigned = si.getUnsignedAttributes();
            if (unsigned == null) throw new Exception("no unsigned attributes");
            Attribute attr = unsigned.get(SIGNATURE_TIME_STAMP_TOKEN);
            if (attr == null || attr.getAttrValues().size() != 1) throw new Exception("not one id-aa-signatureTimeStampToken value");
            TimeStampToken token = new TimeStampToken(ContentInfo.getInstance(attr.getAttrValues().getObjectAt(0)));
            String alg = token.getTimeStampInfo().getMessageImprintAlgOID().getId();
            byte[] want = MessageDigest.getInstance(alg, "BC").digest(si.getSignature());
            if (!Arrays.equals(want, token.getTimeStampInfo().getMessageImprintDigest())) throw new Exception("imprint is not over the signature value");
            X509CertificateHolder caHolder;
            try (PEMParser pem = new PEMParser(new FileReader(args[1]))) { caHolder = (X509CertificateHolder) pem.readObject(); }
            JcaX509CertificateConverter conv = new JcaX509CertificateConverter().setProvider("BC");
            @SuppressWarnings("unchecked")
            Collection<X509CertificateHolder> found = token.getCertificates().getMatches((Selector) token.getSID());
            if (found.isEmpty()) throw new Exception("the token does not carry its TSA certificate");
            X509Certificate tsa = conv.getCertificate(found.iterator().next());
            tsa.verify(conv.getCertificate(caHolder).getPublicKey());
            token.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(tsa));  // signature, ESS cert id, critical timeStamping EKU
            System.out.println("verified genTime " + token.getTimeStampInfo().getGenTime().toInstant());
            System.exit(0);
        } catch (Exception e) {
            System.err.println("refused: " + e);
            System.exit(1);
        }
    }
}
